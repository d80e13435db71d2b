// Package natsjstest starts a real nats-server with JetStream for tests, and
// provides the clinics the tests use.
package natsjstest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// StartServer runs a nats-server with JetStream on a temporary directory and
// returns it; it is shut down when the test ends.
func StartServer(t testing.TB) *server.Server {
	t.Helper()
	opts := natsserver.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	ns := natsserver.RunServer(&opts)
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// Env is a connected, provisioned JetStream for one test.
type Env struct {
	Server *server.Server
	Conn   *natsjs.Conn
	Store  *natsjs.Store
}

// Start runs a server, connects, and provisions the streams and buckets.
func Start(t testing.TB) *Env {
	t.Helper()
	ns := StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, store, err := natsjs.Open(ctx, config.NATS{URL: ns.ClientURL(), Replicas: 1, Retention: 30 * 24 * time.Hour}, t.Name(), Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return &Env{Server: ns, Conn: conn, Store: store}
}

// Logger discards logs: tests assert on records, not on log lines.
func Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Tokens of the test clinics.
const (
	HarbourToken = "harbour-intake-token-000000000001"
	SolToken     = "sol-intake-token-0000000000000001"
	// CalComSecret is harbour's Cal.com webhook secret.
	CalComSecret = "harbour-calcom-secret-000000001"
)

// Clinics are two clinics in different zones, one with a number sender and
// one with a Messaging Service, both with every minute open unless windows
// are given.
func Clinics(t testing.TB, windows ...string) *clinics.Directory {
	t.Helper()
	window := "* * * * *"
	if len(windows) > 0 {
		window = windows[0]
	}
	list := []aftercare.Clinic{{
		ID: "harbour", Name: "Harbour Massage", TimeZone: "Europe/London", SendWindow: window, Locale: "en",
		Sender: aftercare.Sender{From: "+447700900100"}, IntakeToken: HarbourToken, ContactPhone: "+442079460000",
		Escalation: aftercare.EscalationContacts{OnCallPhone: "+447700900199"},
		Booking:    map[string]aftercare.BookingSystem{"calcom": {Secret: CalComSecret}},
	}, {
		ID: "sol", Name: "Fisio Sol", TimeZone: "America/Mexico_City", SendWindow: window, Locale: "es",
		Sender: aftercare.Sender{MessagingServiceSID: "MG00000000000000000000000000000001"}, IntakeToken: SolToken, ContactPhone: "+525555550100",
		Escalation: aftercare.EscalationContacts{OnCallPhone: "+525555550199"},
	}}
	d, err := clinics.New(list)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Clock is a settable clock for tests, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Count returns how many messages a stream holds on subjects matching filter.
func (e *Env) Count(t testing.TB, stream, filter string) uint64 {
	t.Helper()
	return CountSubjects(t, e.Conn.JS, stream, filter)
}

// CountSubjects is Count for any JetStream connection.
func CountSubjects(t testing.TB, js jetstream.JetStream, stream, filter string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
