// Package natsjs connects to NATS JetStream, running an embedded nats-server
// when none is configured, and holds everything the service keeps there: the
// streams, consumers and key-value buckets, and the records in them.
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
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
}

// Connect reaches the configured NATS, or starts an embedded nats-server with
// JetStream on cfg.EmbeddedDir when cfg.URL is empty.
func Connect(ctx context.Context, cfg config.NATS, name string, log *slog.Logger) (*Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "server", nc.ConnectedServerName()) }),
	}
	c := &Conn{}
	url := cfg.URL
	if url == "" {
		ns, err := startEmbedded(cfg, log)
		if err != nil {
			return nil, err
		}
		c.embedded = ns
		opts = append(opts, nats.InProcessServer(ns))
		log.Info("embedded nats-server started", "dir", cfg.EmbeddedDir, "listen", cfg.EmbeddedListen, "sync", cfg.EmbeddedSync)
	} else {
		if cfg.CredsFile != "" {
			opts = append(opts, nats.UserCredentials(cfg.CredsFile))
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

func startEmbedded(cfg config.NATS, log *slog.Logger) (*server.Server, error) {
	sync, err := config.EmbeddedSyncInterval(cfg.EmbeddedSync)
	if err != nil {
		return nil, fmt.Errorf("NATS_EMBEDDED_SYNC: %w", err)
	}
	opts := &server.Options{
		ServerName: "aftercare-embedded",
		JetStream:  true,
		StoreDir:   cfg.EmbeddedDir,
		NoSigs:     true,
		// A single server has no replica to recover from, so by default it
		// fsyncs every write before acknowledging it.
		SyncAlways:   sync == 0,
		SyncInterval: sync,
	}
	if cfg.EmbeddedListen == "none" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(cfg.EmbeddedListen)
		if err != nil {
			return nil, fmt.Errorf("NATS_EMBEDDED_LISTEN: %w", err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("NATS_EMBEDDED_LISTEN: port %q: %w", port, err)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	ns.SetLoggerV2(serverLog{log}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats-server: not ready after 30s (is the port in use?)")
	}
	return ns, nil
}

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
		done := make(chan struct{})
		c.NC.SetClosedHandler(func(*nats.Conn) { close(done) })
		if err := c.NC.Drain(); err == nil {
			select {
			case <-done:
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
	store, err := Provision(ctx, conn.JS, Settings{Replicas: cfg.Replicas, Retention: cfg.Retention})
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
