package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/harness"
)

// backlogRun loads o.backlog follow-ups due days ahead (a third as many
// sessions, ending now, with the real 24/48/72 h offsets), waits until every
// one is planned, and reports each process's memory, the store's size on
// disk, and how long each process (and nats-server) takes from a restart to
// serving again.
func (s *system) backlogRun(ctx context.Context, o options, out io.Writer) error {
	sessions := (o.backlog + 2) / 3
	fmt.Fprintf(out, "loadgen: backlog of %d follow-ups (%d sessions, due 24-72 h ahead); nats-server %s fsync=%s\n", 3*sessions, sessions, s.NATSVersion, o.fsync)
	ends := make([]time.Time, sessions)
	now := time.Now()
	for i := range ends {
		ends[i] = now
	}
	in, err := s.intake(ctx, loadBatch, ends, o.concurrency)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "intake      %d events in %v = %.0f events/s; ack p50 %v, p99 %v\n",
		sessions, in.took.Round(time.Millisecond), float64(sessions)/in.took.Seconds(), pct(in.latency, 0.5), pct(in.latency, 0.99))

	nc, err := nats.Connect(s.NATSURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFrom := time.Now()
	for {
		info, err := js.Consumer(ctx, "AFTERCARE_SESSIONS", "planner")
		if err == nil {
			ci, err := info.Info(ctx)
			if err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Second)
	}
	planned := time.Since(waitFrom) + in.took
	st, err := js.Stream(ctx, "AFTERCARE_FOLLOWUPS")
	if err != nil {
		return err
	}
	// Nothing is due for a day, so every message in the stream is a timer.
	// (A subject filter would list a million subjects and time out.)
	si, err := st.Info(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "planned     %d timers pending, all planned %v after the first event (%.0f events/s)\n",
		si.State.Msgs, planned.Round(time.Second), float64(sessions)/planned.Seconds())
	for _, p := range s.Procs() {
		fmt.Fprintf(out, "memory      %-11s RSS now %4d MB, peak %4d MB\n", p.Name, p.RSS()>>20, p.Usage().PeakRSS>>20)
	}
	fmt.Fprintf(out, "disk        JetStream store %d MB\n", harness.DirSize(s.StoreDir())>>20)

	// Restarts: each program, then nats-server under both.
	for _, name := range []string{"scheduler", "worker"} {
		took, err := s.restart(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "restart     %-11s serving (readyz 200) %v after start\n", name, took.Round(time.Millisecond))
	}
	s.NATS.Stop()
	t0 := time.Now()
	if err := s.StartNATS(); err != nil {
		return err
	}
	listening := time.Since(t0)
	for _, p := range []*harness.Proc{s.Scheduler, s.Worker} {
		if err := harness.WaitReady(p.Addr, 2*time.Minute); err != nil {
			return fmt.Errorf("%s after the nats-server restart: %w", p.Name, err)
		}
	}
	fmt.Fprintf(out, "restart     nats-server listening %v after start; scheduler and worker ready again %v after start\n",
		listening.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	fmt.Fprintf(out, "memory      nats-server RSS after restart %d MB\n", s.NATS.RSS()>>20)
	return nil
}

// restart stops one of our programs and starts it again, timing until it
// is ready.
func (s *system) restart(name string) (time.Duration, error) {
	p := s.Scheduler
	if name == "worker" {
		p = s.Worker
	}
	p.Stop()
	t0 := time.Now()
	if err := s.StartProgram(name); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
