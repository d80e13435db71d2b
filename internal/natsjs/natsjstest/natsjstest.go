// Package natsjstest starts a real nats-server with JetStream for tests, and
// provides the clinics the tests use.
package natsjstest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
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

// Cluster is a JetStream cluster of in-process nats-servers on loopback.
type Cluster struct {
	Servers []*server.Server
	opts    []*server.Options
}

// StartCluster runs a cluster of n servers (3 for R3 streams), each with
// its own store, and waits until JetStream has a meta leader. The servers
// are shut down when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	routePorts := make([]int, n)
	for i := range routePorts {
		routePorts[i] = freePort(t)
	}
	routes := make([]*url.URL, n)
	for i, p := range routePorts {
		routes[i] = &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)}
	}
	c := &Cluster{}
	for i := range n {
		opts := natsserver.DefaultTestOptions
		opts.ServerName = fmt.Sprintf("n%d", i+1)
		opts.Port = -1
		opts.JetStream = true
		opts.StoreDir = t.TempDir()
		opts.Cluster = server.ClusterOpts{Name: "aftercare-test", Host: "127.0.0.1", Port: routePorts[i]}
		opts.Routes = routes
		c.opts = append(c.opts, &opts)
		ns, err := server.NewServer(&opts)
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		c.Servers = append(c.Servers, ns)
	}
	t.Cleanup(func() {
		for _, ns := range c.Servers {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	})
	for _, ns := range c.Servers {
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready", ns.Name())
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.metaLeader() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no JetStream meta leader within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// URLs is every server's client URL, comma-separated, as NATS_URL takes it.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, ns := range c.Servers {
		urls[i] = ns.ClientURL()
	}
	return strings.Join(urls, ",")
}

func (c *Cluster) metaLeader() *server.Server {
	for _, ns := range c.Servers {
		if ns.Running() && ns.JetStreamIsLeader() {
			return ns
		}
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Connect opens a plain JetStream connection for a test's own checks.
func Connect(t testing.TB, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Stop shuts server i down, as a node fault would (its store stays).
func (c *Cluster) Stop(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Restart starts server i again on its store and routes; it gets a new
// client port (see its ClientURL).
func (c *Cluster) Restart(t testing.TB, i int) *server.Server {
	t.Helper()
	opts := *c.opts[i]
	ns, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatalf("%s not ready after restart", ns.Name())
	}
	c.Servers[i] = ns
	return ns
}
