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
