package installtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/natsauth"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// principal is one user's connection, with the permission errors the
// server sent it.
type principal struct {
	name string
	nc   *nats.Conn
	mu   sync.Mutex
	errs []string
}

// connectAs connects as the user whose seed cmd/natsauth wrote, over TLS
// with the cluster's CA, with that user's inbox prefix.
func connectAs(t *testing.T, c *cluster, credDir, name, inbox string) *principal {
	t.Helper()
	p := &principal{name: name}
	auth, err := nats.NkeyOptionFromSeed(filepath.Join(credDir, name+".nk"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(strings.Join(c.urls, ","), auth, nats.RootCAs(c.ca), nats.CustomInboxPrefix(inbox),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.errs = append(p.errs, err.Error())
		}))
	if err != nil {
		t.Fatalf("%s connects: %v", name, err)
	}
	t.Cleanup(nc.Close)
	p.nc = nc
	return p
}

// violation waits for the server's permission error naming what. The
// server answers a refused SUB or PUB before the PONG of the flush that
// follows, so the error is there once the flush returns; the short wait
// is for the client's error callback to run.
func (p *principal) violation(what string) bool {
	_ = p.nc.Flush()
	deadline := time.Now().Add(2 * time.Second)
	for {
		p.mu.Lock()
		for _, e := range p.errs {
			if strings.Contains(e, what) {
				p.mu.Unlock()
				return true
			}
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// refusedSub and refusedPub check that the server refuses the user.
func (p *principal) refusedSub(t *testing.T, subject string) {
	t.Helper()
	if _, err := p.nc.SubscribeSync(subject); err != nil {
		t.Fatal(err)
	}
	if !p.violation(fmt.Sprintf("Subscription to %q", subject)) {
		t.Errorf("%s may subscribe to %s", p.name, subject)
	}
}

func (p *principal) refusedPub(t *testing.T, subject string) {
	t.Helper()
	if err := p.nc.Publish(subject, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if !p.violation(fmt.Sprintf("Publish to %q", subject)) {
		t.Errorf("%s may publish to %s", p.name, subject)
	}
}

// What every principal must not reach: another's replies (JetStream
// answers carry stored events and records), and the catch-all inbox.
var inboxes = []string{"_INBOX.>", natsauth.SchedulerInbox + ".>", natsauth.WorkerInbox + ".>",
	natsauth.BookingInbox("harbour") + ".>", natsauth.BookingInbox("sol") + ".>"}

func others(own string) []string {
	var out []string
	for _, s := range inboxes {
		if s != own+".>" {
			out = append(out, s)
		}
	}
	return out
}

// checkPermissions shows, for each principal, what it may do and a list of
// what it is refused. Run against the booted cluster by TestRenderedInstall.
func checkPermissions(t *testing.T, c *cluster, credDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, clinic := range []string{"harbour", "sol"} {
		other := map[string]string{"harbour": "sol", "sol": "harbour"}[clinic]
		t.Run("booking-"+clinic, func(t *testing.T) {
			p := connectAs(t, c, credDir, "booking-"+clinic, natsauth.BookingInbox(clinic))
			// May: publish its own clinic's events and read the stream's ack.
			js, err := jetstream.New(p.nc)
			if err != nil {
				t.Fatal(err)
			}
			ack, err := js.Publish(ctx, "sessions."+clinic+".perm", []byte(`{"event_id":"perm-1","session_id":"perm","kind":"cancelled"}`),
				jetstream.WithMsgID(clinic+".perm-1"))
			if err != nil || ack.Stream != natsjs.StreamSessions {
				t.Fatalf("own clinic's publish: %v %+v", err, ack)
			}
			// Refused: another clinic's subjects, reading any events.
			p.refusedPub(t, "sessions."+other+".perm")
			for _, s := range []string{"sessions.>", "sessions." + other + ".>", "sessions." + clinic + ".>", ">"} {
				p.refusedSub(t, s)
			}
			// Refused: streams, buckets and the JetStream API.
			for _, s := range []string{
				"$JS.API.INFO",
				"$JS.API.STREAM.INFO." + natsjs.StreamSessions,
				"$JS.API.STREAM.MSG.GET." + natsjs.StreamSessions,
				"$JS.API.DIRECT.GET." + natsjs.StreamReplies,
				"$JS.API.DIRECT.GET.KV_" + natsjs.BucketSessions,
				"$JS.API.CONSUMER.CREATE." + natsjs.StreamSessions,
				"$JS.API.STREAM.PURGE." + natsjs.StreamSessions,
				"$KV." + natsjs.BucketSessions + "." + other + ".x",
				"$KV." + natsjs.BucketOptOuts + "." + clinic + ".x",
				"replies." + other, "followups.schedule.x", "aftercare.intake.sessions",
			} {
				p.refusedPub(t, s)
			}
			for _, s := range append(others(natsauth.BookingInbox(clinic)), "$KV.>", "$JS.>", "replies.>", "escalations.>") {
				p.refusedSub(t, s)
			}
		})
	}
	for _, who := range []struct{ name, inbox string }{{"scheduler", natsauth.SchedulerInbox}, {"worker", natsauth.WorkerInbox}} {
		t.Run(who.name, func(t *testing.T) {
			p := connectAs(t, c, credDir, who.name, who.inbox)
			// May: the JetStream API and the buckets.
			js, err := jetstream.New(p.nc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.Stream(ctx, natsjs.StreamSessions); err != nil {
				t.Errorf("stream info: %v", err)
			}
			kv, err := js.KeyValue(ctx, natsjs.BucketSessions)
			if err != nil {
				t.Fatalf("bucket: %v", err)
			}
			if _, err := kv.Get(ctx, "harbour.none"); err != jetstream.ErrKeyNotFound {
				t.Errorf("bucket get: %v", err)
			}
			// Refused: other principals' replies, and subjects outside the service.
			for _, s := range others(who.inbox) {
				p.refusedSub(t, s)
			}
			p.refusedPub(t, "clinic.other.thing")
			p.refusedPub(t, "$SYS.REQ.SERVER.PING")
			if who.name == "worker" {
				p.refusedSub(t, natsjs.IntakeSubject)
			}
		})
	}
}
