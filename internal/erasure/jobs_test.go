package erasure_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// A requested erasure puts up the client's tombstone and is queued once,
// however often it is asked for; a run cut short leaves the job to run
// again, which completes it; a run of a job already done changes nothing.
func TestErasureJobRunsAgainAfterACutShortRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.client(t, "harbour", client, "s1", "SM01")
	jobs := &erasure.Jobs{Service: b.svc, Store: b.env.Store, Now: func() time.Time { return b.now }, Log: natsjstest.Logger(), Heartbeat: time.Second}
	by := aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"}
	job, err := jobs.Request(ctx, "harbour", client, by)
	if err != nil {
		t.Fatal(err)
	}
	again, err := jobs.Request(ctx, "harbour", client, by)
	if err != nil || again.ID != job.ID {
		t.Errorf("asked again: %+v %v, want job %s", again, err, job.ID)
	}
	if id, err := b.env.Store.Erasing(ctx, "harbour", client); err != nil || id != job.ID {
		t.Errorf("tombstone: %q %v", id, err)
	}
	cons, err := natsjs.ClientEraseConsumer(ctx, b.env.Store.JetStream(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	next := func() jetstream.Msg {
		t.Helper()
		return fetchOne(t, cons, "erasure job queued")
	}
	msg := next()
	cut, cancel := context.WithCancel(ctx)
	cancel()
	if err := jobs.Handle(cut, msg); err == nil {
		t.Fatal("a run with its context gone succeeded")
	}
	if id, _ := b.env.Store.Erasing(ctx, "harbour", client); id != job.ID {
		t.Errorf("tombstone after the cut-short run: %q", id)
	}
	if err := msg.Nak(); err != nil {
		t.Fatal(err)
	}
	msg = next()
	if err := jobs.Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	done, err := jobs.Job(ctx, "harbour", job.ID)
	if err != nil || done.Status != erasure.JobDone || done.Phone != "" || done.Result == nil || !done.Result.Erased.ClientRecord || done.Attempts != 1 {
		t.Errorf("job: %+v %v", done, err)
	}
	if id, err := b.env.Store.Erasing(ctx, "harbour", client); err != nil || id != "" {
		t.Errorf("tombstone after the job: %q %v", id, err)
	}
	for _, hit := range natsjstest.Find(t, b.env.Conn.JS, []string{"KV_" + natsjs.BucketEscalations}, "447700900401") {
		t.Errorf("after the job: %s", hit)
	}
	// Handed the message again (an ack lost): nothing changes.
	if err := jobs.Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if again, _ := jobs.Job(ctx, "harbour", job.ID); again.Attempts != 1 || again.Status != erasure.JobDone {
		t.Errorf("job after a repeat: %+v", again)
	}
}

// Review: one record of the clinic that cannot be decoded (here another
// client's reply) makes every erasure at the clinic fail with
// natsjs.ErrCorrupt, which the scheduler's runner treats as hopeless: after
// three deliveries the job is dead-lettered, left "running", nothing of the
// client erased, and its tombstone stands for ever, refusing the client's
// sessions with 409. (The same with the client's own corrupt client or
// consent record, or any escalation of the clinic.)
func TestReviewCorruptRecordOfAnotherClientDoesNotStrandAnErasure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.client(t, "harbour", client, "s1", "SM01")
	kv, err := b.env.Conn.JS.KeyValue(ctx, natsjs.BucketReplies)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, natsjs.ReplyKey("harbour", "SMbroken"), []byte(`{"message_sid":`)); err != nil {
		t.Fatal(err)
	}
	jobs := &erasure.Jobs{Service: b.svc, Store: b.env.Store, Now: func() time.Time { return b.now }, Log: natsjstest.Logger(), Heartbeat: time.Second}
	job, err := jobs.Request(ctx, "harbour", client, aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := natsjs.ClientEraseConsumer(ctx, b.env.Store.JetStream(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	msg := fetchOne(t, cons, "erasure job queued")
	if err := jobs.Handle(ctx, msg); err != nil {
		t.Errorf("erasure job failed (hopeless: %v): %v", errors.Is(err, natsjs.ErrCorrupt), err)
	}
	if id, _ := b.env.Store.Erasing(ctx, "harbour", client); id != "" {
		t.Errorf("tombstone %s still up: the client's sessions are refused", id)
	}
	if _, _, err := b.env.Store.Client(ctx, "harbour", client); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("client record after the job %s: %v, want it erased", job.ID, err)
	}
}

// A request whose job cannot be queued (the erasure stream gone: the
// DELETE answers 503) leaves no tombstone behind, nor the job's record with
// the number: else every session of the client would be refused with 409
// for good, with no job to take the tombstone down.
func TestRequestNotQueuedLeavesNoTombstone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	jobs := &erasure.Jobs{Service: b.svc, Store: b.env.Store, Now: func() time.Time { return b.now }, Log: natsjstest.Logger()}
	if err := b.env.Conn.JS.DeleteStream(ctx, natsjs.StreamErasure); err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Request(ctx, "harbour", client, aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"}); err == nil {
		t.Fatal("the request succeeded with no erasure stream")
	}
	if id, err := b.env.Store.Erasing(ctx, "harbour", client); err != nil || id != "" {
		t.Errorf("tombstone after the failed request: %q %v, want none", id, err)
	}
	for _, hit := range natsjstest.Find(t, b.env.Conn.JS, nil, "447700900401") {
		t.Errorf("after the failed request: %s", hit)
	}
}

// The sweep takes down a tombstone whose job is gone, and queues again a
// job whose message is gone (given up on, or never queued), which then
// runs and takes its tombstone down; a young tombstone, whose request may
// be queueing it, is left as it is.
func TestSweepClearsOrRequeuesStrandedTombstones(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.client(t, "harbour", client, "s1", "SM01")
	clock := natsjstest.NewClock(b.now)
	jobs := &erasure.Jobs{Service: b.svc, Store: b.env.Store, Now: clock.Now, Log: natsjstest.Logger(), Heartbeat: time.Second}
	st := b.env.Store
	// A tombstone naming a job with no record.
	if _, err := st.SetErasing(ctx, "sol", client, "era_gone"); err != nil {
		t.Fatal(err)
	}
	// A job requested, whose message was then lost.
	job, err := jobs.Request(ctx, "harbour", client, aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := b.env.Conn.JS.Stream(ctx, natsjs.StreamErasure)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := jobs.Sweep(ctx)
	if err != nil || res.Checked != 2 || res.Cleared != 1 || res.Requeued != 0 {
		t.Errorf("first sweep: %+v %v, want the jobless tombstone cleared and the young one left", res, err)
	}
	if id, _ := st.Erasing(ctx, "sol", client); id != "" {
		t.Errorf("jobless tombstone still up: %q", id)
	}
	clock.Advance(erasure.SweepGrace)
	if res, err = jobs.Sweep(ctx); err != nil || res.Requeued != 1 {
		t.Fatalf("second sweep: %+v %v, want the job queued again", res, err)
	}
	if res, err = jobs.Sweep(ctx); err != nil || res.Requeued != 0 {
		t.Errorf("third sweep: %+v %v, want the queued job left alone", res, err)
	}
	cons, err := natsjs.ClientEraseConsumer(ctx, st.JetStream(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if err := jobs.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("%d erasure jobs queued, want 1", n)
	}
	if id, _ := st.Erasing(ctx, "harbour", client); id != "" {
		t.Errorf("tombstone of job %s still up after it ran: %q", job.ID, id)
	}
}
