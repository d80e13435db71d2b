package systemtest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// freeLoopbackAddr is a loopback address no one listens on, for a program's
// embedded nats-server.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The scheduler's embedded nats-server (NATS_URL empty, as scripts/run-local
// runs it) admits only the holder of the seed it wrote in its directory:
// another local process can neither connect nor subscribe to the intake
// subject nor read a bucket, while the worker given NATS_NKEY_SEED_FILE
// works as usual.
func TestEmbeddedServerRequiresCredentials(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	dir := filepath.Join(t.TempDir(), "nats")
	listen := freeLoopbackAddr(t)
	scheduler := s.start("scheduler", "NATS_URL=", "NATS_EMBEDDED_DIR="+dir, "NATS_EMBEDDED_LISTEN="+listen, "NATS_EMBEDDED_SYNC=2m")
	url := "nats://" + listen

	if nc, err := nats.Connect(url, nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Errorf("connect without credentials: %v, want an authorization violation", err)
	}
	// Whatever a stranger sends first, the server answers only that it is
	// not authorized, and hangs up: no intake request (with a clinic's
	// bearer token) and no record (phones, replies) reach it.
	for name, attempt := range map[string]string{
		"subscribe to the intake subject": "CONNECT {\"verbose\":false}\r\nSUB aftercare.intake.sessions 1\r\nPING\r\n",
		"read the sessions bucket":        "CONNECT {\"verbose\":false}\r\nSUB _INBOX.x 1\r\nPUB $JS.API.STREAM.MSG.GET.KV_aftercare_sessions _INBOX.x 2\r\n{}\r\nPING\r\n",
		"publish a session event":         "CONNECT {\"verbose\":false}\r\nPUB sessions.harbour.x 2\r\n{}\r\nPING\r\n",
		"no CONNECT at all":               "SUB aftercare.intake.sessions 1\r\nPING\r\n",
	} {
		if got := rawNATS(t, listen, attempt); !strings.Contains(got, "-ERR 'Authorization Violation'") || strings.Contains(got, "PONG") || strings.Contains(got, "MSG") {
			t.Errorf("%s: the server answered %q, want only an authorization violation", name, got)
		}
	}

	seed := filepath.Join(dir, natsjs.SeedFileName)
	for path, want := range map[string]os.FileMode{seed: 0o600, dir: 0o700} {
		if info, err := os.Stat(path); err != nil {
			t.Fatal(err)
		} else if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
	}

	// The worker, given the seed's path, works as usual: ready, and texts.
	s.start("worker", "NATS_URL="+url, "NATS_NKEY_SEED_FILE="+seed)
	s.post(scheduler, event("e1", "emb1", "completed", "+447700900501", time.Now()))
	if got := s.messagesTo("+447700900501", 3, 20*time.Second); len(got) != 3 {
		t.Fatalf("%d texts through the authenticated embedded server, want 3", len(got))
	}
}

// An embedded server listening beyond loopback without TLS is refused at
// start, naming the setting.
func TestEmbeddedServerRefusesOpenListen(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "scheduler"))
	cmd.Env = []string{"NATS_EMBEDDED_DIR=" + t.TempDir(), "NATS_EMBEDDED_LISTEN=0.0.0.0:0", "HTTP_ADDR=127.0.0.1:0",
		"CLINICS_FILE=" + s.clinics, "HARBOUR_TOKEN=" + token, "SOL_TOKEN=" + solToken, "HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "ALLOW_ANY_SEND_WINDOW=true"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(string(out), "NATS_EMBEDDED_LISTEN") {
		t.Fatalf("scheduler with NATS_EMBEDDED_LISTEN=0.0.0.0:0 and no TLS: %v\n%s", err, out)
	}
}

// rawNATS speaks NATS' text protocol to addr, sends what, and returns what
// the server says until it hangs up or goes quiet.
func rawNATS(t *testing.T, addr, what string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(info, "INFO ") {
		t.Fatalf("no INFO from %s: %q %v", addr, info, err)
	}
	if _, err := conn.Write([]byte(what)); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for {
		line, err := r.ReadString('\n')
		got.WriteString(line)
		if err != nil {
			return got.String()
		}
	}
}
