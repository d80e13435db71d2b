package housekeeping_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/housekeeping"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/planner"
)

// A Monday in winter, years ahead: the timers these tests set must not fire,
// and nats-server's scheduler runs on the real clock, not the test's.
var end = time.Date(2037, 11, 23, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*natsjstest.Env, *natsjstest.Clock) {
	t.Helper()
	env := natsjstest.Start(t)
	clock := natsjstest.NewClock(end)
	p := &planner.Planner{Store: env.Store, Clinics: natsjstest.Clinics(t), Policy: plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour},
		Now: clock.Now, Log: natsjstest.Logger(), Stats: &planner.Stats{}}
	ev := aftercare.SessionEvent{EventID: "e1", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindCompleted, SessionEnd: &end,
		Client: &aftercare.Client{Phone: "+447700900123"}}
	if err := p.Apply(context.Background(), 1, ev); err != nil {
		t.Fatal(err)
	}
	return env, clock
}

func dueJobs(t *testing.T, env *natsjstest.Env) uint64 {
	t.Helper()
	return env.Count(t, natsjs.StreamFollowUps, "followups.due.>")
}

func TestReconcileRefiresLostTimers(t *testing.T) {
	t.Parallel()
	env, clock := setup(t)
	ctx := context.Background()
	// The timers are lost (say, purged by hand); the records remain.
	if err := env.Store.CancelSchedules(ctx, "harbour", "s1"); err != nil {
		t.Fatal(err)
	}
	// Step 2 is in a worker's retry loop: it must be left to the worker.
	f, rev, _ := env.Store.FollowUp(ctx, "harbour", "s1", 2)
	f.Attempts = 1
	if _, err := env.Store.SaveFollowUp(ctx, f, rev); err != nil {
		t.Fatal(err)
	}
	r := &housekeeping.Reconciler{Store: env.Store, Grace: 10 * time.Minute, Now: clock.Now, Log: natsjstest.Logger()}

	// Not overdue yet: nothing to do.
	if res, err := r.Run(ctx); err != nil || res.Refired != 0 || res.Checked != 3 {
		t.Fatalf("before due: %+v %v", res, err)
	}
	clock.Advance(72*time.Hour + 11*time.Minute) // all three overdue by more than the grace
	res, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Refired != 2 {
		t.Fatalf("re-fired %d, want 2 (steps 1 and 3)", res.Refired)
	}
	if n := dueJobs(t, env); n != 2 {
		t.Fatalf("%d due jobs published, want 2", n)
	}
}

func TestReconcileIgnoresCancelledSessions(t *testing.T) {
	t.Parallel()
	env, clock := setup(t)
	ctx := context.Background()
	rec, rev, _ := env.Store.Session(ctx, "harbour", "s1")
	rec.Status = aftercare.SessionCancelled
	if _, err := env.Store.SaveSession(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	clock.Advance(80 * time.Hour)
	r := &housekeeping.Reconciler{Store: env.Store, Grace: time.Minute, Now: clock.Now, Log: natsjstest.Logger()}
	if res, err := r.Run(ctx); err != nil || res.Refired != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCronRunsAndLogsTheJob(t *testing.T) {
	t.Parallel()
	env, clock := setup(t)
	logs := &syncBuffer{}
	r := &housekeeping.Reconciler{Store: env.Store, Grace: time.Minute, Now: clock.Now, Log: slog.New(slog.NewTextHandler(logs, nil))}
	c, err := housekeeping.Start(context.Background(), "@every 1s", r)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "reconcile done") {
		if time.Now().After(deadline) {
			t.Fatalf("no run logged: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "checked=3") {
		t.Errorf("log lacks the count: %s", logs.String())
	}
	if _, err := housekeeping.Start(context.Background(), "whenever", r); err == nil {
		t.Error("a bad spec must be refused")
	}
}

// An overdue follow-up whose job is on its way is left alone: its timer is
// still set (a worker deferred it, say to the send window's opening), or
// its job has fired and waits its turn in the clinic's lane (a backlog at
// the sender's pace). Re-firing those every run would pile copies into the
// lane. Once the lane has acknowledged the job and the record still says
// scheduled, the job was lost after all, and it is re-fired.
func TestReconcileLeavesJobsUnderway(t *testing.T) {
	t.Parallel()
	env, clock := setup(t)
	ctx := context.Background()
	r := &housekeeping.Reconciler{Store: env.Store, Grace: 10 * time.Minute, Now: clock.Now, Log: natsjstest.Logger()}
	clock.Advance(72*time.Hour + 11*time.Minute)
	if res, err := r.Run(ctx); err != nil || res.Refired != 0 {
		t.Fatalf("timers still set: re-fired %d (%v), want 0", res.Refired, err)
	}
	if err := env.Store.CancelSchedules(ctx, "harbour", "s1"); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Run(ctx); err != nil || res.Refired != 3 {
		t.Fatalf("timers lost: re-fired %d (%v), want 3", res.Refired, err)
	}
	if res, err := r.Run(ctx); err != nil || res.Refired != 0 || dueJobs(t, env) != 3 {
		t.Fatalf("jobs waiting in the lane: re-fired %d (%v), %d jobs; want 0 and 3", res.Refired, err, dueJobs(t, env))
	}
	lane, err := natsjs.SenderLane(ctx, env.Conn.JS, "harbour", time.Minute, 16)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := lane.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := r.Run(ctx); err != nil || res.Refired != 3 {
		t.Fatalf("acknowledged yet still scheduled: re-fired %d (%v), want 3", res.Refired, err)
	}
}
