package natsjs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

func embeddedConfig(dir string) config.NATS {
	return config.NATS{EmbeddedDir: dir, EmbeddedListen: "127.0.0.1:0", EmbeddedSync: "2m", Replicas: 1, Retention: 30 * 24 * time.Hour}
}

func connectEmbedded(t *testing.T, cfg config.NATS) *natsjs.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := natsjs.Open(ctx, cfg, t.Name(), natsjstest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// The embedded server admits only the holder of the seed it wrote in its
// directory; a local process without it reads and writes nothing.
func TestEmbeddedServerRequiresCredentials(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nats")
	conn := connectEmbedded(t, embeddedConfig(dir))
	url, seedFile := conn.ClientURL(), conn.SeedFile()

	if _, err := nats.Connect(url, nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect without credentials: %v, want an authorization violation", err)
	}
	if _, err := nats.Connect(url, nats.UserInfo("aftercare", "aftercare")); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect with a made-up user: %v, want an authorization violation", err)
	}

	if seedFile != filepath.Join(dir, natsjs.SeedFileName) {
		t.Errorf("seed file %q, want %q", seedFile, filepath.Join(dir, natsjs.SeedFileName))
	}
	for path, want := range map[string]os.FileMode{seedFile: 0o600, dir: 0o700} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	first, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, auth)
	if err != nil {
		t.Fatalf("connect with the seed: %v", err)
	}
	if _, err := nc.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Errorf("JetStream with the seed: %v", err)
	}
	nc.Close()
	conn.Close()

	// A second start on the same directory keeps the same credentials, so
	// programs given the seed's path need no change.
	again := connectEmbedded(t, embeddedConfig(dir))
	defer again.Close()
	second, err := os.ReadFile(again.SeedFile())
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Error("the second start made new credentials")
	}
	nc, err = nats.Connect(again.ClientURL(), auth)
	if err != nil {
		t.Fatalf("connect with the first start's seed: %v", err)
	}
	nc.Close()
}

// An embedded server is refused anywhere but loopback unless it has TLS;
// a seed open to others is refused rather than trusted.
func TestEmbeddedServerRefusals(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := embeddedConfig(t.TempDir())
	cfg.EmbeddedListen = "0.0.0.0:0"
	if conn, err := natsjs.Connect(ctx, cfg, t.Name(), natsjstest.Logger()); err == nil || !strings.Contains(err.Error(), "NATS_EMBEDDED_LISTEN") {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("listen on 0.0.0.0 without TLS: %v, want an error naming NATS_EMBEDDED_LISTEN", err)
	}

	dir := t.TempDir()
	connectEmbedded(t, embeddedConfig(dir)).Close()
	if err := os.Chmod(filepath.Join(dir, natsjs.SeedFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if conn, err := natsjs.Connect(ctx, embeddedConfig(dir), t.Name(), natsjstest.Logger()); err == nil || !strings.Contains(err.Error(), "open to others") {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("seed readable by others: %v, want a refusal", err)
	}
}

// A program on the same machine reaches the embedded server with the seed
// file's path in NATS_NKEY_SEED_FILE.
func TestSeedFileSetting(t *testing.T) {
	t.Parallel()
	conn := connectEmbedded(t, embeddedConfig(t.TempDir()))
	defer conn.Close()
	other := connectEmbedded(t, config.NATS{URL: conn.ClientURL(), NKeySeedFile: conn.SeedFile(), Retention: 30 * 24 * time.Hour})
	defer other.Close()
	if !other.NC.IsConnected() {
		t.Fatal("not connected with NATS_NKEY_SEED_FILE")
	}
}

// With NATS_EMBEDDED_TLS_* the server may listen beyond loopback: its
// clients speak TLS, and still need the seed.
func TestEmbeddedServerWithTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := selfSigned(t)
	cfg := embeddedConfig(t.TempDir())
	cfg.EmbeddedListen, cfg.EmbeddedTLSCert, cfg.EmbeddedTLSKey = "0.0.0.0:0", certFile, keyFile
	conn := connectEmbedded(t, cfg) // in-process, with the seed
	defer conn.Close()
	port := conn.ClientURL()[strings.LastIndex(conn.ClientURL(), ":")+1:]
	url := "tls://127.0.0.1:" + port

	auth, err := nats.NkeyOptionFromSeed(conn.SeedFile())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nats.Secure(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}), auth)
	if err != nil {
		t.Fatalf("TLS with the seed: %v", err)
	}
	if !nc.TLSRequired() {
		t.Error("the server does not require TLS")
	}
	nc.Close()
	if nc, err := nats.Connect(url, nats.Secure(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}), nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Errorf("TLS without the seed: %v, want an authorization violation", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// them with a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aftercare-embedded"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}
