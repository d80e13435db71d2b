package systemtest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// When nats-server closes a program's connection for good (nats.go gives up
// on a protocol error or a repeated authorization error whatever
// MaxReconnects says), the program exits non-zero saying why, so that
// Kubernetes or systemd starts it afresh, rather than answer 503 until
// someone restarts it.
func TestProgramExitsWhenNATSClosesItsConnection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		program string
		change  func(*server.Options)
		want    string
	}{
		// The scheduler's next protocol line is too long for the server:
		// it answers -ERR 'maximum control line exceeded' and hangs up.
		{"scheduler", func(o *server.Options) { o.MaxControlLine = 32 }, "maximum control line exceeded"},
		// The worker's credentials stop being valid: nats.go gives up on
		// the second authorization violation.
		{"worker", func(o *server.Options) { o.Username, o.Password = "someone", "else" }, "authorization violation"},
	}
	for _, tt := range tests {
		t.Run(tt.program, func(t *testing.T) {
			t.Parallel()
			ns := natsjstest.StartReloadable(t)
			s := setup(t, "1h,2h,3h")
			s.natsURL = ns.ClientURL()
			p := s.start(tt.program)
			if err := ns.Reload(tt.change); err != nil {
				t.Fatal(err)
			}
			if tt.program == "scheduler" {
				// An event makes the scheduler publish to JetStream.
				s.call(p, http.MethodPost, "/v1/sessions", token, event("e1", "lost1", "completed", "+447700900601", time.Now()))
			}
			code := waitExit(t, p, 30*time.Second)
			logs := p.Logs()
			if code == 0 || !strings.Contains(logs, tt.program+": nats connection closed for good") || !strings.Contains(strings.ToLower(logs), tt.want) {
				t.Fatalf("%s exited with %d; want non-zero, saying the connection closed for good (%s):\n%s", tt.program, code, tt.want, logs)
			}
		})
	}
}

// While NATS is away the programs keep reconnecting; once it has been away
// longer than NATS_DOWN_LIVENESS their /healthz (the liveness probe) fails,
// so a pod that cannot reach NATS is restarted. The worker stays ready (it
// spools Twilio's webhooks), the scheduler does not. When NATS is back both
// are healthy again and the scheduler takes events.
func TestLivenessWhileNATSIsAway(t *testing.T) {
	t.Parallel()
	ns := natsjstest.StartReloadable(t)
	s := setup(t, "1h,2h,3h")
	s.natsURL = ns.ClientURL()
	scheduler := s.start("scheduler", "NATS_DOWN_LIVENESS=4s")
	worker := s.start("worker", "NATS_DOWN_LIVENESS=4s")
	s.post(scheduler, event("e1", "away1", "completed", "+447700900602", time.Now()))

	ns.Shutdown()
	waitFor(t, 10*time.Second, "the scheduler not ready", func() bool { return s.probe(scheduler, "/readyz") == http.StatusServiceUnavailable })
	for _, p := range []*program{scheduler, worker} {
		if code := s.probe(p, "/healthz"); code != http.StatusOK {
			t.Errorf("/healthz %d just after NATS went away, want 200 until NATS_DOWN_LIVENESS", code)
		}
	}
	waitFor(t, 20*time.Second, "the scheduler's /healthz failing", func() bool { return s.probe(scheduler, "/healthz") == http.StatusServiceUnavailable })
	waitFor(t, 5*time.Second, "the worker's /healthz failing", func() bool { return s.probe(worker, "/healthz") == http.StatusServiceUnavailable })
	if code := s.probe(worker, "/readyz"); code != http.StatusOK {
		t.Errorf("worker /readyz %d while NATS is away, want 200: it spools Twilio's webhooks", code)
	}

	// The same processes (nothing restarts them here) reconnect and serve.
	ns.Restart(t)
	for _, p := range []*program{scheduler, worker} {
		waitFor(t, 20*time.Second, "/healthz 200 again", func() bool { return s.probe(p, "/healthz") == http.StatusOK })
	}
	s.waitReady(scheduler)
	s.post(scheduler, event("e2", "away2", "completed", "+447700900603", time.Now()))
	if !strings.Contains(scheduler.Logs(), "nats reconnected") || !strings.Contains(worker.Logs(), "nats reconnected") {
		t.Error("no reconnection logged")
	}
}

func (s *system) probe(p *program, path string) int {
	res, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// waitExit waits for the program to exit on its own and returns its exit
// code.
func waitExit(t *testing.T, p *program, within time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		// Reap it here: a second Wait at cleanup, racing this one, hangs.
		_ = p.cmd.Process.Kill()
		<-done
		t.Fatalf("still running %v after NATS closed its connection:\n%s", within, p.Logs())
		return 0
	}
}
