package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aftercare/aftercare/internal/escalation/escalationtest"
	"github.com/aftercare/aftercare/internal/harness"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// scenario is one fault, injected into a running system under load.
type scenario struct {
	name string
	// inject runs while the load does; it returns what it did, for the
	// table, and records kills that could cut a send from its record.
	inject func(ctx context.Context, r *run) (string, error)
}

// run is one scenario's system, load and fault timings.
type run struct {
	sys    *harness.System
	load   *load
	clinic *escalationtest.Receiver
	opts   options
	// recordingFaults: when a worker or nats-server was killed.
	recordingFaults []time.Time
}

var scenarios = []scenario{
	{"no fault", func(context.Context, *run) (string, error) { return "-", nil }},
	{"worker kill -9 mid-send", killWorker},
	{"scheduler kill -9 mid-intake", killScheduler},
	{"nats-server kill -9, restart", killNATS},
	{"twilio 429 + Retry-After", twilioFault(twiliotest.Reply{Status: 429, Code: 20429, RetryAfter: "1"}, "429s")},
	{"twilio 500", twilioFault(twiliotest.Reply{Status: 500, Code: 20500}, "500s")},
	{"twilio 503 (proxy page)", twilioFault(twiliotest.Reply{Status: 503, HTML: true}, "503s")},
	{"twilio timing out", twilioFault(twiliotest.Reply{Hang: true}, "no answers (timeouts)")},
	{"twilio answering slowly", twilioFault(twiliotest.Reply{Delay: 1500 * time.Millisecond}, "answers 1.5 s late")},
	{"clinic webhook down", webhookDown},
}

// waitFor sleeps for d or until ctx ends.
func waitFor(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// until polls cond every few milliseconds for up to 10 s.
func until(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// killWorker kills the worker while texts are with Twilio (the stand-in
// holds each answer 30 ms so there are some), twice, restarting it 1 s
// after each kill.
func killWorker(ctx context.Context, r *run) (string, error) {
	r.sys.Twilio.Fail(twiliotest.Reply{Delay: 30 * time.Millisecond})
	defer r.sys.Twilio.Recover()
	inFlight := 0
	for range r.opts.kills {
		if err := waitFor(ctx, r.opts.faultGap()); err != nil {
			return "", err
		}
		until(func() bool { return r.sys.Twilio.InFlight() > 0 })
		inFlight += r.sys.Twilio.InFlight()
		r.sys.Worker.Kill()
		r.recordingFaults = append(r.recordingFaults, time.Now())
		time.Sleep(time.Second)
		if err := r.sys.StartProgram("worker"); err != nil {
			return "", err
		}
		r.load.worker.Store(&r.sys.Worker.Addr)
	}
	return fmt.Sprintf("%d kills, %d sends in flight", r.opts.kills, inFlight), nil
}

// killScheduler kills the scheduler while session events are being posted,
// twice; the booking systems retry what was not acknowledged.
func killScheduler(ctx context.Context, r *run) (string, error) {
	inFlight := int64(0)
	for range r.opts.kills {
		if err := waitFor(ctx, r.opts.faultGap()); err != nil {
			return "", err
		}
		until(func() bool { return r.load.inIntake.Load() > 0 })
		inFlight += r.load.inIntake.Load()
		r.sys.Scheduler.Kill()
		time.Sleep(time.Second)
		if err := r.sys.StartProgram("scheduler"); err != nil {
			return "", err
		}
		r.load.scheduler.Store(&r.sys.Scheduler.Addr)
	}
	return fmt.Sprintf("%d kills, %d posts in flight", r.opts.kills, inFlight), nil
}

// killNATS kills nats-server and starts it again on the same store 2 s
// later; the programs reconnect.
func killNATS(ctx context.Context, r *run) (string, error) {
	for range r.opts.kills {
		if err := waitFor(ctx, r.opts.faultGap()); err != nil {
			return "", err
		}
		r.sys.NATS.Kill()
		r.recordingFaults = append(r.recordingFaults, time.Now())
		time.Sleep(2 * time.Second)
		if err := r.sys.StartNATS(); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%d kills, down 2 s each", r.opts.kills), nil
}

// twilioFault has the stand-in answer every request with reply for the
// fault window.
func twilioFault(reply twiliotest.Reply, what string) func(context.Context, *run) (string, error) {
	return func(ctx context.Context, r *run) (string, error) {
		if err := waitFor(ctx, r.opts.faultGap()); err != nil {
			return "", err
		}
		before := r.sys.Twilio.Requests()
		r.sys.Twilio.Fail(reply)
		err := waitFor(ctx, r.opts.twilioOutage)
		r.sys.Twilio.Recover()
		return fmt.Sprintf("%d requests met %v of %s", r.sys.Twilio.Requests()-before, r.opts.twilioOutage, what), err
	}
}

// webhookDown turns the clinic's escalation webhook away with 503s.
func webhookDown(ctx context.Context, r *run) (string, error) {
	if err := waitFor(ctx, r.opts.faultGap()); err != nil {
		return "", err
	}
	r.clinic.Down.Store(true)
	err := waitFor(ctx, r.opts.webhookOutage)
	r.clinic.Down.Store(false)
	_, hits := r.clinic.Counts()
	return fmt.Sprintf("down %v, %d webhooks turned away", r.opts.webhookOutage, hits), err
}
