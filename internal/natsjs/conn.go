// Package natsjs connects to NATS JetStream, running an embedded nats-server
// when none is configured, and holds everything the service keeps there: the
// streams, consumers and key-value buckets, and the records in them.
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/config"
)

// Conn is a connection to JetStream, and the embedded server behind it when
// there is one.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	embedded *server.Server
	seedFile string // the embedded server's credentials

	closing   atomic.Bool   // Close was called: a close is asked for
	closed    chan struct{} // closed when NC is closed, asked for or not
	lost      chan error    // the reason NATS closed the connection unasked
	downSince atomic.Int64  // unix nanoseconds since the connection went down; 0 while up
}

// Connect reaches the configured NATS, or starts an embedded nats-server with
// JetStream on cfg.EmbeddedDir when cfg.URL is empty.
func Connect(ctx context.Context, cfg config.NATS, name string, log *slog.Logger) (*Conn, error) {
	c := &Conn{closed: make(chan struct{}), lost: make(chan error, 1)}
	opts := []nats.Option{
		nats.Name(name),
		// Reconnect forever: NATS away for a while (a restart, an election,
		// a network cut) must not need our restart. RetryOnFailedConnect is
		// left off: connectWithRetry waits for the first connection, so the
		// program is not started on a connection that never came up.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.downSince.CompareAndSwap(0, time.Now().UnixNano())
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		// nats.go prints asynchronous errors (slow consumer, permissions,
		// authorization) to stderr in plain text unless given a handler.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("nats error", "err", err, "subject", sub.Subject)
				return
			}
			log.Warn("nats error", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.downSince.Store(0)
			log.Info("nats reconnected", "server", nc.ConnectedServerName())
		}),
		// Some failures close the connection for good whatever
		// MaxReconnects says: a protocol error from the server (such as
		// "maximum control line exceeded"), or the same authorization
		// error twice. The program must then stop (see Lost), not serve
		// 503s until someone restarts it.
		nats.ClosedHandler(func(nc *nats.Conn) {
			c.downSince.CompareAndSwap(0, time.Now().UnixNano())
			if !c.closing.Load() {
				err := nc.LastError()
				if err == nil {
					err = nats.ErrConnectionClosed
				}
				log.Error("nats connection closed for good", "err", err)
				c.lost <- err
			}
			close(c.closed)
		}),
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	url := cfg.URL
	if url == "" {
		ns, seedFile, err := startEmbedded(cfg, log)
		if err != nil {
			return nil, err
		}
		c.embedded, c.seedFile = ns, seedFile
		auth, err := nats.NkeyOptionFromSeed(seedFile)
		if err != nil {
			c.shutdownEmbedded()
			return nil, fmt.Errorf("embedded nats-server credentials: %w", err)
		}
		opts = append(opts, nats.InProcessServer(ns), auth)
		log.Info("embedded nats-server started", "dir", cfg.EmbeddedDir, "listen", cfg.EmbeddedListen, "sync", cfg.EmbeddedSync,
			"tls", cfg.EmbeddedTLSCert != "", "credentials", seedFile)
	} else {
		// Credentials in the URL (nats://user:password@host) are used by
		// nats.go as they are.
		if cfg.CredsFile != "" {
			opts = append(opts, nats.UserCredentials(cfg.CredsFile))
		}
		if cfg.NKeySeedFile != "" {
			auth, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
			if err != nil {
				return nil, fmt.Errorf("NATS_NKEY_SEED_FILE: %w", err)
			}
			opts = append(opts, auth)
		}
		if cfg.TLSCA != "" {
			opts = append(opts, nats.RootCAs(cfg.TLSCA))
		}
		if cfg.TLSCert != "" {
			opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
		}
	}
	nc, err := connectWithRetry(ctx, url, opts)
	if err != nil {
		c.shutdownEmbedded()
		return nil, err
	}
	c.NC = nc
	c.JS, err = jetstream.New(nc)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return c, nil
}

// Lost delivers the reason when NATS closes the connection for good without
// the program asking. The program should then stop with that error, so
// that Kubernetes or systemd starts it afresh with a new connection.
func (c *Conn) Lost() <-chan error { return c.lost }

// Live reports an error when NATS has been unreachable for longer than
// limit at now: the liveness probe then fails and the program is restarted,
// which re-reads its credentials and resolves NATS' address again.
func (c *Conn) Live(now time.Time, limit time.Duration) error {
	since := c.downSince.Load()
	if since == 0 {
		return nil
	}
	if down := now.Sub(time.Unix(0, since)); down > limit {
		return fmt.Errorf("nats unreachable for %v, longer than NATS_DOWN_LIVENESS (%v)", down.Round(time.Second), limit)
	}
	return nil
}

// DownFor is how long NATS has been unreachable at now; 0 while connected.
func (c *Conn) DownFor(now time.Time) time.Duration {
	since := c.downSince.Load()
	if since == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, since))
}

// connectWithRetry keeps trying until ctx ends: in Kubernetes the NATS
// cluster may still be starting when our pods do.
func connectWithRetry(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	delay := 200 * time.Millisecond
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to nats %s: %w", RedactURL(url), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// SeedFile is the path of the embedded server's credentials, to give other
// programs in NATS_NKEY_SEED_FILE; empty when none is embedded.
func (c *Conn) SeedFile() string { return c.seedFile }

// ClientURL is the address other processes can reach the embedded server at,
// empty when it does not listen or none is embedded.
func (c *Conn) ClientURL() string {
	if c.embedded == nil || c.embedded.Addr() == nil {
		return ""
	}
	return c.embedded.ClientURL()
}

// Close drains the connection, letting in-flight publishes and acks finish,
// then stops the embedded server.
func (c *Conn) Close() {
	if c.NC != nil {
		c.closing.Store(true)
		if err := c.NC.Drain(); err == nil {
			select {
			case <-c.closed:
			case <-time.After(5 * time.Second):
			}
		}
		c.NC.Close()
	}
	c.shutdownEmbedded()
}

func (c *Conn) shutdownEmbedded() {
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
	}
}

// Open connects to NATS (or starts the embedded server) and provisions every
// stream and bucket, giving up when ctx ends.
func Open(ctx context.Context, cfg config.NATS, name string, log *slog.Logger) (*Conn, *Store, error) {
	conn, err := Connect(ctx, cfg, name, log)
	if err != nil {
		return nil, nil, err
	}
	store, err := Provision(ctx, conn.JS, Settings{Replicas: cfg.Replicas, Retention: cfg.Retention, EscalationRetention: cfg.EscalationRetention})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, store, nil
}

// Ready reports why the program cannot do its work, or nil: the connection
// must be up and the program's consumer present.
func (c *Conn) Ready(ctx context.Context, consumers ...jetstream.Consumer) error {
	if !c.NC.IsConnected() {
		return errors.New("nats not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, consumer := range consumers {
		if _, err := consumer.Info(ctx); err != nil {
			return fmt.Errorf("consumer %s: %w", consumer.CachedInfo().Name, err)
		}
	}
	return nil
}

// serverLog passes the embedded server's notices, warnings and errors to slog.
type serverLog struct{ log *slog.Logger }

func (l serverLog) Noticef(format string, v ...any) {
	l.log.Debug("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLog) Warnf(format string, v ...any) {
	l.log.Warn("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLog) Fatalf(format string, v ...any) {
	l.log.Error("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLog) Errorf(format string, v ...any) {
	l.log.Error("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLog) Debugf(format string, v ...any) {
	l.log.Debug("nats-server: " + fmt.Sprintf(format, v...))
}
func (l serverLog) Tracef(string, ...any) {}
