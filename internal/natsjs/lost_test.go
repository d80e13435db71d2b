package natsjs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// Some server-side failures close a nats.go connection for good, whatever
// MaxReconnects says; Lost tells the program, which must then stop.
func TestLostConnectionIsReported(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		change func(*server.Options)
		want   string
	}{
		// The server's -ERR for a too-long protocol line (a request id, a
		// subject) closes the connection at once.
		"protocol error": {func(o *server.Options) { o.MaxControlLine = 32 }, "maximum control line exceeded"},
		// The same authorization error twice and nats.go gives up.
		"credentials no longer valid": {func(o *server.Options) { o.Username, o.Password = "someone", "else" }, "authorization violation"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := natsjstest.StartReloadable(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := natsjs.Connect(ctx, config.NATS{URL: ns.ClientURL()}, t.Name(), natsjstest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()

			if err := ns.Reload(tt.change); err != nil {
				t.Fatal(err)
			}
			_ = conn.NC.Publish("aftercare.a.subject.longer.than.the.max.control.line", nil)
			_ = conn.NC.Flush()
			select {
			case err := <-conn.Lost():
				if !strings.Contains(strings.ToLower(err.Error()), tt.want) {
					t.Errorf("lost: %v, want %q", err, tt.want)
				}
			case <-ctx.Done():
				t.Fatalf("the connection is %v, and Lost said nothing", conn.NC.Status())
			}
			if err := conn.Live(time.Now().Add(time.Hour), time.Minute); err == nil {
				t.Error("a connection closed for an hour is live")
			}
		})
	}
}

// A close the program asks for is not a loss.
func TestCloseIsNotLost(t *testing.T) {
	t.Parallel()
	ns := natsjstest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := natsjs.Connect(ctx, config.NATS{URL: ns.ClientURL()}, t.Name(), natsjstest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if !conn.NC.IsClosed() {
		t.Fatal("not closed")
	}
	select {
	case err := <-conn.Lost():
		t.Errorf("Close reported as lost: %v", err)
	default:
	}
}

// Live fails once NATS has been unreachable longer than the limit, and
// holds again when the connection is back.
func TestLiveWhileNATSIsAway(t *testing.T) {
	t.Parallel()
	ns := natsjstest.StartReloadable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := natsjs.Connect(ctx, config.NATS{URL: ns.ClientURL()}, t.Name(), natsjstest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Live(time.Now().Add(time.Hour), time.Minute); err != nil {
		t.Fatalf("connected, yet: %v", err)
	}

	ns.Shutdown()
	waitUntil(t, "the disconnect is seen", func() bool { return conn.Live(time.Now().Add(time.Hour), time.Minute) != nil })
	now := time.Now()
	if err := conn.Live(now, time.Minute); err != nil {
		t.Errorf("down for a moment: %v, want live", err)
	}
	if err := conn.Live(now.Add(2*time.Minute), time.Minute); err == nil || !strings.Contains(err.Error(), "NATS_DOWN_LIVENESS") {
		t.Errorf("down for 2m with a 1m limit: %v, want an error naming NATS_DOWN_LIVENESS", err)
	}

	ns.Restart(t)
	waitUntil(t, "live again after the reconnect", func() bool { return conn.Live(time.Now().Add(time.Hour), time.Minute) == nil })
	select {
	case err := <-conn.Lost():
		t.Errorf("a restart of NATS closed the connection: %v", err)
	default:
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
