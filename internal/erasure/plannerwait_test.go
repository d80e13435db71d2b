package erasure_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// An event the planner took in before the client's tombstone went up may
// be written after the erasure's passes; were the erasure then done and
// its tombstone down, the planner's second look would find nothing and the
// session would outlive the erasure (the second outside review's race).
// The job waits for the planner to finish every event stored before it
// began: its passes start only once the planner has acknowledged it, and
// erase what the planner wrote.
func TestErasureWaitsForEventsStillInThePlanner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	js := b.env.Store.JetStream()
	planner, err := natsjs.PlannerConsumer(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	b.client(t, "harbour", client, "s1", "SM01")   // stores the session's event
	event := fetchOne(t, planner, "session event") // in the planner's hands, past its first look

	behind, passes := make(chan struct{}), make(chan struct{})
	var behindOnce, passesOnce sync.Once
	b.svc.AtTwilio = func(string) bool {
		passesOnce.Do(func() { close(passes) })
		return false
	}
	jobs := &erasure.Jobs{Service: b.svc, Store: b.env.Store, Now: func() time.Time { return b.now }, Log: natsjstest.Logger(), Heartbeat: time.Second,
		StillInFlight: func() { behindOnce.Do(func() { close(behind) }) }}
	if _, err := jobs.Request(ctx, "harbour", client, aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"}); err != nil {
		t.Fatal(err)
	}
	eraseJobs, err := natsjs.ClientEraseConsumer(ctx, js, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	job := fetchOne(t, eraseJobs, "erasure job")
	done := make(chan error, 1)
	go func() { done <- jobs.Handle(ctx, job) }()
	select {
	case <-behind:
	case <-passes:
		t.Fatal("the erasure's passes began with a session event still in the planner")
	case err := <-done:
		t.Fatalf("the erasure finished with a session event still in the planner (%v)", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the erasure neither waited for the planner nor ran")
	}
	select {
	case <-passes:
		t.Fatal("the erasure's passes began with a session event still in the planner")
	default:
	}
	// The planner writes what it planned, then acknowledges the event.
	st := b.env.Store
	if _, err := st.SaveSession(ctx, aftercare.Session{ClinicID: "harbour", SessionID: "s9", Status: aftercare.SessionActive, Client: aftercare.Client{Phone: client}, End: b.now}, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Schedule(ctx, aftercare.DueFollowUp{ClinicID: "harbour", SessionID: "s9", Step: 1, DueAt: b.now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := event.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, hit := range natsjstest.Find(t, b.env.Conn.JS, []string{"KV_" + natsjs.BucketEscalations}, "447700900401", "harbour.s9") {
		t.Errorf("after erasure: %s", hit)
	}
}

// A job handed back after a crash between taking its tombstone down and
// forgetting the number finishes without taking down the tombstone of an
// erasure of the same client requested meanwhile.
func TestFinishedJobLeavesANewerErasuresTombstone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	st := b.env.Store
	jobs := &erasure.Jobs{Service: b.svc, Store: st, Now: func() time.Time { return b.now }, Log: natsjstest.Logger(), Heartbeat: time.Second}
	first, err := jobs.Request(ctx, "harbour", client, aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"})
	if err != nil {
		t.Fatal(err)
	}
	eraseJobs, err := natsjs.ClientEraseConsumer(ctx, st.JetStream(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	msg := fetchOne(t, eraseJobs, "erasure job queued")
	// The first run erased, recorded its answer and took its tombstone
	// down, then died; a new erasure of the client put up its own.
	if _, err := natsjs.UpdateRecord(ctx, st, st.ErasureJobsBucket(), natsjs.ErasureJobKey("harbour", first.ID), false, func(j *erasure.Job) (bool, error) {
		j.Status, j.Result = erasure.JobDone, &erasure.Result{ClinicID: "harbour"}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.ClearErasing(ctx, "harbour", client); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetErasing(ctx, "harbour", client, "era_newer"); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if job, err := st.Erasing(ctx, "harbour", client); err != nil || job != "era_newer" {
		t.Errorf("after the first job finished again, the tombstone names %q (%v), want the newer erasure's", job, err)
	}
}

// fetchOne takes the next message of a consumer, failing the test if none
// comes within 5 s; what names it in the failure.
func fetchOne(t *testing.T, c jetstream.Consumer, what string) jetstream.Msg {
	t.Helper()
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		return m
	}
	t.Fatalf("no %s", what)
	return nil
}
