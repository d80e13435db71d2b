// Package jobs runs a handler over a JetStream pull consumer and maps what the
// handler returns to one JetStream action: nil acks, Retry and Snooze hand the
// message back for later, GiveUp dead-letters it and terminates it.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// retry is a failure to try again after a delay.
type retry struct {
	after time.Duration
	err   error
}

func (r *retry) Error() string { return fmt.Sprintf("retry in %v: %v", r.after, r.err) }
func (r *retry) Unwrap() error { return r.err }

// Retry hands the message back to be tried again after delay: a failure.
func Retry(after time.Duration, err error) error { return &retry{after: after, err: err} }

// snooze is not a failure: the job is not ready yet (a closed send window, a
// rate limit, another worker holding it).
type snooze struct {
	after  time.Duration
	reason string
}

func (s *snooze) Error() string { return fmt.Sprintf("snoozed %v: %s", s.after, s.reason) }

// Snooze hands the message back to be looked at again after delay.
func Snooze(after time.Duration, reason string) error { return &snooze{after: after, reason: reason} }

// giveUp is a job that will never succeed.
type giveUp struct{ err error }

func (g *giveUp) Error() string { return "give up: " + g.err.Error() }
func (g *giveUp) Unwrap() error { return g.err }

// GiveUp dead-letters the message with err as the reason.
func GiveUp(err error) error { return &giveUp{err: err} }

// Handler handles one message.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// DeadLetterFunc stores a message given up on, with the reason.
type DeadLetterFunc func(ctx context.Context, msg jetstream.Msg, reason string) error

// Runner pulls messages from a consumer and handles them concurrently.
type Runner struct {
	Name        string
	Consumer    jetstream.Consumer
	Concurrency int
	Handle      Handler
	DeadLetter  DeadLetterFunc
	// JobTimeout bounds one handler call; keep it under the consumer's AckWait.
	JobTimeout time.Duration
	// UnexpectedDelay is the retry delay for errors that are none of the
	// above (a NATS hiccup while reading a record).
	UnexpectedDelay time.Duration
	// Hopeless are errors retrying cannot cure by itself, such as
	// natsjs.ErrCorrupt (a record that cannot be decoded). A job failing
	// with one is retried until its HopelessAttempts-th delivery (3 if 0),
	// in case someone repairs the record meanwhile, then given up with it
	// as the reason: not retried for ever.
	Hopeless         []error
	HopelessAttempts int
	Log              *slog.Logger

	// Slots, if set, is shared by several runners (a clinic's lane each)
	// as their common limit of jobs in hand; Concurrency is then the most
	// this runner pulls at once.
	Slots chan struct{}
	// Defer, if set, takes a job that must wait at least DeferAfter (a
	// snooze or a retry) out of the consumer: it arranges for the job to
	// come back at until, and the message is acknowledged. A message handed
	// back with a delay instead stays in the consumer's ack-pending places,
	// and enough waiting jobs would block the rest of the consumer.
	Defer      func(ctx context.Context, msg jetstream.Msg, until time.Time) error
	DeferAfter time.Duration
}

// A pull request lives on the consumer's leader. When that leader dies the
// request dies with it, and the client learns only when the request
// expires or its heartbeats stop: nats.go's defaults (30 s and 15 s) stall
// a consumer for half a minute after a leader change. These notice in ~2 s.
const (
	PullExpiry    = 5 * time.Second
	PullHeartbeat = time.Second
)

// Run handles messages until ctx is done, then stops pulling, finishes the
// messages already pulled, and returns.
//
// It consumes with a callback, not an iterator: the iterator buffers in a
// channel as long as one pull, and after a missed heartbeat the old pull
// and the new one can both deliver, overflowing it. What overflows is
// dropped ("slow consumer") yet stays pending at the server until AckWait,
// 30 s later for the planner. A callback subscription buffers far more.
func (r *Runner) Run(ctx context.Context) error {
	slots := r.Slots
	if slots == nil {
		slots = make(chan struct{}, r.Concurrency)
	}
	var wg Group
	cc, err := r.Consumer.Consume(func(msg jetstream.Msg) {
		slots <- struct{}{} // wait for a free handler: the rest wait in the buffer
		wg.Go(func() {
			defer func() { <-slots }()
			r.handle(ctx, msg)
		})
	}, jetstream.PullMaxMessages(r.Concurrency), jetstream.PullExpiry(PullExpiry), jetstream.PullHeartbeat(PullHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Heartbeat misses and the like: the consumer pulls again by itself.
			r.Log.Warn("pull failed", "consumer", r.Name, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("%s: consume: %w", r.Name, err)
	}
	<-ctx.Done()
	// Drain hands what is already buffered to the handlers, then closes.
	cc.Drain()
	<-cc.Closed()
	wg.Wait()
	return nil
}

func (r *Runner) handle(ctx context.Context, msg jetstream.Msg) {
	// A job already pulled is finished even when shutdown has begun.
	jobCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.JobTimeout)
	defer cancel()
	err := r.safeHandle(jobCtx, msg)
	if r.hopeless(err) && delivered(msg) >= r.hopelessAttempts() {
		err = GiveUp(err)
	}
	action, delay, cause := Outcome(err)
	if (action == "snooze" || action == "retry") && r.Defer != nil && delay >= r.DeferAfter {
		deferErr := r.Defer(jobCtx, msg, time.Now().Add(delay))
		if deferErr == nil {
			level := slog.LevelDebug
			if action == "retry" {
				level = slog.LevelWarn
			}
			r.Log.Log(jobCtx, level, "job deferred", "consumer", r.Name, "subject", msg.Subject(), "after", delay, "action", action, "cause", cause)
			if ackErr := msg.Ack(); ackErr != nil {
				// Redelivered after AckWait as well as deferred: the
				// handler's own checks make the second one a no-op.
				r.Log.Warn("ack failed", "consumer", r.Name, "subject", msg.Subject(), "err", ackErr)
			}
			return
		}
		r.Log.Warn("could not defer job, handing it back instead", "consumer", r.Name, "subject", msg.Subject(), "err", deferErr)
	}
	var ackErr error
	switch action {
	case "ack":
		ackErr = msg.Ack()
	case "snooze":
		r.Log.Debug("job snoozed", "consumer", r.Name, "subject", msg.Subject(), "after", delay, "reason", cause)
		ackErr = msg.NakWithDelay(delay)
	case "retry":
		r.Log.Warn("job failed, will retry", "consumer", r.Name, "subject", msg.Subject(), "after", delay, "err", cause)
		ackErr = msg.NakWithDelay(delay)
	case "give up":
		r.Log.Error("job dead-lettered", "consumer", r.Name, "subject", msg.Subject(), "reason", cause)
		if dlErr := r.DeadLetter(jobCtx, msg, cause.Error()); dlErr != nil {
			// Not stored as dead: keep the job rather than lose it.
			r.Log.Error("dead-letter failed, job kept", "consumer", r.Name, "err", dlErr)
			ackErr = msg.NakWithDelay(r.UnexpectedDelay)
			break
		}
		ackErr = msg.Term()
	default:
		r.Log.Warn("job error, will retry", "consumer", r.Name, "subject", msg.Subject(), "err", err)
		ackErr = msg.NakWithDelay(r.UnexpectedDelay)
	}
	if ackErr != nil {
		// The server redelivers after AckWait; nothing is lost.
		r.Log.Warn("ack failed", "consumer", r.Name, "subject", msg.Subject(), "err", ackErr)
	}
}

// hopeless reports an error retrying cannot cure (and not already a
// decision to give up or snooze).
func (r *Runner) hopeless(err error) bool {
	if action, _, _ := Outcome(err); action != "retry" && action != "error" {
		return false
	}
	for _, h := range r.Hopeless {
		if errors.Is(err, h) {
			return true
		}
	}
	return false
}

func (r *Runner) hopelessAttempts() int {
	if r.HopelessAttempts <= 0 {
		return 3
	}
	return r.HopelessAttempts
}

// delivered is how many times msg has been delivered, 1 the first time.
func delivered(msg jetstream.Msg) int {
	if meta, err := msg.Metadata(); err == nil {
		return int(meta.NumDelivered)
	}
	return 1
}

// safeHandle turns a panic into a dead letter, so one poison message cannot
// crash the program on every redelivery.
func (r *Runner) safeHandle(ctx context.Context, msg jetstream.Msg) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.Log.Error("job panicked", "consumer", r.Name, "panic", p, "stack", string(debug.Stack()))
			err = GiveUp(fmt.Errorf("handler panicked: %v", p))
		}
	}()
	return r.Handle(ctx, msg)
}

// Outcome names what the runner does with a handler's result: "ack",
// "snooze", "retry", "give up" or "error"; the delay for snooze and retry;
// and the cause (the snooze reason, the failure, the reason for giving up).
func Outcome(err error) (action string, delay time.Duration, cause error) {
	var (
		rt *retry
		sn *snooze
		gu *giveUp
	)
	switch {
	case err == nil:
		return "ack", 0, nil
	case errors.As(err, &sn):
		return "snooze", sn.after, errors.New(sn.reason)
	case errors.As(err, &rt):
		return "retry", rt.after, rt.err
	case errors.As(err, &gu):
		return "give up", 0, gu.err
	default:
		return "error", 0, err
	}
}

// Start runs the runner in the background. The returned stop ends pulling,
// waits for the jobs in hand until ctx ends, and says if they did not finish
// (they are then redelivered after AckWait, not lost).
func (r *Runner) Start() (stop func(ctx context.Context) error) {
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(runCtx); err != nil {
			r.Log.Error("consumer stopped", "consumer", r.Name, "err", err)
		}
	}()
	return func(ctx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%s: jobs in hand did not finish before shutdown; they will be redelivered", r.Name)
		}
	}
}

// Decode reads a message's JSON payload into a T, and how many times the
// message has been delivered (1 the first time). A payload that cannot be
// decoded never will be: the error gives the job up.
func Decode[T any](msg jetstream.Msg, what string) (T, int, error) {
	var v T
	if err := json.Unmarshal(msg.Data(), &v); err != nil {
		return v, 0, GiveUp(fmt.Errorf("decode %s: %w", what, err))
	}
	return v, delivered(msg), nil
}
