package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// A job that keeps meeting a record that cannot be decoded is dead-lettered
// on its third delivery with that reason, not retried for ever; another
// failure is retried as before.
func TestHopelessErrorGivenUpAfterThreeDeliveries(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	js := env.Conn.JS
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "JOBS_TEST", Subjects: []string{"jobstest.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "JOBS_TEST", jetstream.ConsumerConfig{Durable: "t", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := fmt.Errorf("read client: decode aftercare_clients harbour.447*******23: %w", natsjs.ErrCorrupt)
	var corruptCalls, otherCalls atomic.Int64
	var mu sync.Mutex
	reasons := map[string]string{}
	r := &jobs.Runner{
		Name: "t", Consumer: cons, Concurrency: 2, JobTimeout: 5 * time.Second, UnexpectedDelay: 10 * time.Millisecond,
		Hopeless: []error{natsjs.ErrCorrupt}, Log: natsjstest.Logger(),
		Handle: func(ctx context.Context, msg jetstream.Msg) error {
			if msg.Subject() == "jobstest.corrupt" {
				corruptCalls.Add(1)
				return corrupt
			}
			if otherCalls.Add(1) < 5 {
				return errors.New("nats hiccup")
			}
			return nil
		},
		DeadLetter: func(ctx context.Context, msg jetstream.Msg, reason string) error {
			mu.Lock()
			defer mu.Unlock()
			reasons[msg.Subject()] = reason
			return nil
		},
	}
	stop := r.Start()
	defer func() { _ = stop(ctx) }()
	for _, subject := range []string{"jobstest.corrupt", "jobstest.other"} {
		if _, err := js.Publish(ctx, subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := cons.Info(ctx)
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && otherCalls.Load() >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not finished: corrupt handled %d times, other %d", corruptCalls.Load(), otherCalls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := corruptCalls.Load(); got != 3 {
		t.Errorf("the job meeting a corrupt record was handled %d times, want 3", got)
	}
	if reasons["jobstest.corrupt"] != corrupt.Error() {
		t.Errorf("dead-letter reason %q, want %q", reasons["jobstest.corrupt"], corrupt.Error())
	}
	if reason, ok := reasons["jobstest.other"]; ok {
		t.Errorf("a job with an ordinary failure was dead-lettered: %q", reason)
	}
}

// A job that must wait longer than DeferAfter is handed to Defer and
// acknowledged, so it does not hold one of the consumer's few places: with
// one place, the job behind it is handled at once. A short wait is handed
// back as before and keeps its place.
func TestLongWaitsLeaveTheConsumer(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	if _, err := env.Conn.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "JOBS", Subjects: []string{"jobs.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := env.Conn.JS.CreateOrUpdateConsumer(ctx, "JOBS", jetstream.ConsumerConfig{
		Durable: "one-place", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1, AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	handled, deferred := map[string]int{}, map[string]time.Duration{}
	done := make(chan struct{})
	r := &jobs.Runner{
		Name: "one-place", Consumer: cons, Concurrency: 1, JobTimeout: 10 * time.Second, UnexpectedDelay: time.Second,
		Log: natsjstest.Logger(), DeferAfter: 5 * time.Second,
		Handle: func(_ context.Context, msg jetstream.Msg) error {
			mu.Lock()
			defer mu.Unlock()
			handled[msg.Subject()]++
			switch msg.Subject() {
			case "jobs.window-closed":
				return jobs.Snooze(time.Hour, "outside the send window")
			case "jobs.busy":
				if handled["jobs.busy"] == 1 {
					return jobs.Snooze(100*time.Millisecond, "claimed by another worker")
				}
			case "jobs.last":
				close(done)
			}
			return nil
		},
		Defer: func(_ context.Context, msg jetstream.Msg, until time.Time) error {
			mu.Lock()
			defer mu.Unlock()
			deferred[msg.Subject()] = time.Until(until)
			return nil
		},
	}
	for _, subject := range []string{"jobs.window-closed", "jobs.busy", "jobs.last"} {
		if _, err := env.Conn.JS.Publish(ctx, subject, nil); err != nil {
			t.Fatal(err)
		}
	}
	stop := r.Start()
	defer func() { _ = stop(ctx) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the job behind a long wait was never handled: the waiting job kept the consumer's one place")
	}
	mu.Lock()
	defer mu.Unlock()
	if d := deferred["jobs.window-closed"]; d < 59*time.Minute {
		t.Errorf("window-closed job deferred by %v, want ~1h", d)
	}
	if _, ok := deferred["jobs.busy"]; ok || handled["jobs.busy"] != 2 {
		t.Errorf("a 100 ms wait: deferred %v, handled %d times; want handed back and handled again", ok, handled["jobs.busy"])
	}
	if handled["jobs.window-closed"] != 1 {
		t.Errorf("deferred job handled %d times, want once (it was acknowledged)", handled["jobs.window-closed"])
	}
}
