package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// fairRun gives the load clinic o.fair texts due at once (a third as many
// sessions ending together) on a sender allowed one text a second: hours
// of backlog. Meanwhile the other clinic's texts fall due at its own pace
// (three every four seconds) for o.window, and their lateness is what the
// run reports: one clinic's backlog must not delay another's texts.
func (s *system) fairRun(ctx context.Context, o options, out io.Writer) error {
	backlogSessions := (o.fair + 2) / 3
	otherSessions := max(int(o.window/(4*time.Second)), 3)
	fmt.Fprintf(out, "loadgen: fairness: clinic load has %d texts due at once at 1 text/s; clinic other has %d texts due over %v at 3 per 4 s; nats-server %s fsync=%s\n",
		3*backlogSessions, 3*otherSessions, o.window, s.NATSVersion, o.fsync)

	// The backlog falls due once posted, the other clinic's texts from then on.
	lead := max(5*time.Second, time.Duration(backlogSessions)*time.Millisecond)
	backlogDue := time.Now().Add(lead)
	backlogEnds := make([]time.Time, backlogSessions)
	for i := range backlogEnds {
		backlogEnds[i] = backlogDue.Add(-offsets[0])
	}
	in, err := s.intake(ctx, loadBatch, backlogEnds, o.concurrency)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "intake      load's %d events in %v = %.0f events/s\n", backlogSessions, in.took.Round(time.Millisecond), float64(backlogSessions)/in.took.Seconds())
	if in.lateStart {
		fmt.Fprintln(out, "            (intake ran past the backlog's due time)")
	}
	// The other clinic's sessions end 4 s apart from the backlog's due time
	// on: each one's three texts fall due 1, 2 and 3 s after it ends.
	otherEnds := make([]time.Time, otherSessions)
	for i := range otherEnds {
		otherEnds[i] = backlogDue.Add(2*time.Second + time.Duration(i)*4*time.Second)
	}
	if _, err := s.intake(ctx, otherBatch, otherEnds, 4); err != nil {
		return err
	}
	lastDue := otherEnds[len(otherEnds)-1].Add(offsets[2])
	deadline := lastDue.Add(o.timeout)
	for {
		res := measure(s.Twilio.Messages(), otherBatch, otherEnds)
		if res.unique >= 3*otherSessions || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // a late duplicate would arrive by now
	msgs := s.Twilio.Messages()
	other := measure(msgs, otherBatch, otherEnds)
	backlog := measure(msgs, loadBatch, backlogEnds)
	elapsed := time.Since(backlogDue)
	fmt.Fprintf(out, "other       %d of %d texts; lateness p50 %v, p99 %v, max %v (target: p99 under 2 s)\n",
		other.unique, 3*otherSessions, pct(other.lateness, 0.5), pct(other.lateness, 0.99), pct(other.lateness, 1))
	fmt.Fprintf(out, "load        %d of its backlog sent in the %v since it fell due (%.2f texts/s; its sender allows 1)\n",
		backlog.unique, elapsed.Round(time.Second), float64(backlog.unique)/elapsed.Seconds())
	for _, p := range s.Procs() {
		u := p.Usage()
		fmt.Fprintf(out, "resources   %-11s peak RSS %4d MB, CPU %6.1f s\n", p.Name, u.PeakRSS>>20, u.CPU.Seconds())
	}
	if lost := 3*otherSessions - other.unique; lost != 0 || other.sent != other.unique || backlog.sent != backlog.unique {
		return fmt.Errorf("clinic other: %d texts not sent; %d sent twice; load: %d sent twice", lost, other.sent-other.unique, backlog.sent-backlog.unique)
	}
	if p99 := pct(other.lateness, 0.99); p99 >= 2*time.Second {
		return fmt.Errorf("clinic other's p99 lateness %v misses the 2 s target while clinic load has its backlog", p99)
	}
	return nil
}
