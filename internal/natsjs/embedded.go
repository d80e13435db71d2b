package natsjs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/aftercare/aftercare/internal/config"
)

// SeedFileName is the file in NATS_EMBEDDED_DIR holding the nkey seed of the
// one user the embedded server admits; other programs on the machine are
// given its path in NATS_NKEY_SEED_FILE.
const SeedFileName = "client.nk"

// startEmbedded runs a nats-server with JetStream on cfg.EmbeddedDir that
// admits only the holder of the directory's seed, and returns the seed's path.
func startEmbedded(cfg config.NATS, log *slog.Logger) (*server.Server, string, error) {
	sync, err := config.EmbeddedSyncInterval(cfg.EmbeddedSync)
	if err != nil {
		return nil, "", fmt.Errorf("NATS_EMBEDDED_SYNC: %w", err)
	}
	// Checked here too, not only by config: Connect is also called with a
	// config.NATS built by hand.
	if err := config.CheckEmbeddedListen(cfg.EmbeddedListen, cfg.EmbeddedTLSCert != ""); err != nil {
		return nil, "", err
	}
	seedFile, user, err := embeddedCredentials(cfg.EmbeddedDir)
	if err != nil {
		return nil, "", err
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
		// Every connection, in-process ones too, must sign the server's
		// nonce with the seed: any local process could otherwise read and
		// write every record.
		Nkeys: []*server.NkeyUser{{Nkey: user}},
	}
	if cfg.EmbeddedTLSCert != "" {
		opts.TLSConfig, err = server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.EmbeddedTLSCert, KeyFile: cfg.EmbeddedTLSKey})
		if err != nil {
			return nil, "", fmt.Errorf("NATS_EMBEDDED_TLS_CERT, NATS_EMBEDDED_TLS_KEY: %w", err)
		}
		opts.TLS, opts.TLSVerify = true, false
	}
	if cfg.EmbeddedListen == "none" {
		opts.DontListen = true
	} else {
		host, port, _ := net.SplitHostPort(cfg.EmbeddedListen)
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, "", fmt.Errorf("NATS_EMBEDDED_LISTEN: port %q: %w", port, err)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, "", fmt.Errorf("embedded nats-server: %w", err)
	}
	ns.SetLoggerV2(serverLog{log}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, "", errors.New("embedded nats-server: not ready after 30s (is the port in use?)")
	}
	return ns, seedFile, nil
}

// embeddedCredentials reads the user seed kept in dir, making one on the
// first start, and returns its path and the user's public key. The seed is
// readable by its owner only, in a directory only its owner can enter: that
// directory also holds the JetStream store, phones and replies included.
func embeddedCredentials(dir string) (path, user string, err error) {
	fail := func(err error) (string, string, error) {
		return "", "", fmt.Errorf("NATS_EMBEDDED_DIR: credentials: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fail(err)
	}
	path = filepath.Join(dir, SeedFileName)
	seed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed, err = writeSeed(dir, path)
	}
	if err != nil {
		return fail(err)
	}
	if info, err := os.Stat(path); err != nil {
		return fail(err)
	} else if info.Mode().Perm()&0o077 != 0 {
		return fail(fmt.Errorf("%s is open to others (mode %v): chmod 600 it, or remove it to make new credentials", path, info.Mode().Perm()))
	}
	kp, err := nkeys.ParseDecoratedNKey(seed)
	if err != nil {
		return fail(fmt.Errorf("%s: %w (remove it to make new credentials)", path, err))
	}
	defer kp.Wipe()
	if user, err = kp.PublicKey(); err != nil || !nkeys.IsValidPublicUserKey(user) {
		return fail(fmt.Errorf("%s: not an nkey user seed (remove it to make new credentials)", path))
	}
	return path, user, nil
}

// writeSeed makes a user seed and writes it whole or not at all: a temp
// file (mode 0600) renamed into place.
func writeSeed(dir, path string) ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, SeedFileName+".*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	// The key pair's Wipe overwrites seed, so the caller gets a copy.
	seed = append(bytes.Clone(seed), '\n')
	if _, err := tmp.Write(seed); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, err
	}
	return seed, nil
}
