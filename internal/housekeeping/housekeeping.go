// Package housekeeping holds the scheduler's periodic jobs, run by
// robfig/cron: today, the reconciliation that re-fires follow-ups whose
// durable timer went missing.
package housekeeping

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// Reconciler finds follow-ups still waiting well past their due time with no
// attempt made, a sign their timer was lost (a purge by hand, a stream
// restored from an old backup), and fires them now. The worker's claim on
// each follow-up makes an extra job harmless.
type Reconciler struct {
	Store *natsjs.Store
	// Grace is how long past due a follow-up may wait before it counts as lost.
	Grace time.Duration
	Now   func() time.Time
	Log   *slog.Logger
}

// Result says what one run found.
type Result struct {
	Checked int
	Refired int
}

// Run checks every follow-up record once.
func (r *Reconciler) Run(ctx context.Context) (Result, error) {
	var res Result
	now := r.Now()
	floors := map[string]uint64{} // each clinic's lane, read once a run
	err := r.Store.EachFollowUp(ctx, func(f aftercare.FollowUp, rev uint64) error {
		res.Checked++
		// Attempts > 0: a worker holds it in retry, with its own delay.
		if f.Status != aftercare.FollowUpScheduled || f.Attempts > 0 || now.Sub(f.DueAt) < r.Grace {
			return nil
		}
		sess, _, err := r.Store.Session(ctx, f.ClinicID, f.SessionID)
		if errors.Is(err, aftercare.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sess.Status != aftercare.SessionActive || sess.PlanVersion != f.PlanVersion {
			return nil
		}
		job := aftercare.DueOf(f, rev)
		floor, ok := floors[f.ClinicID]
		if !ok {
			if floor, err = r.Store.LaneAckFloor(ctx, f.ClinicID); err != nil {
				return err
			}
			floors[f.ClinicID] = floor
		}
		// Waiting its turn in the lane, or deferred to a timer: not lost.
		if underway, err := r.Store.JobUnderway(ctx, job, floor); err != nil || underway {
			return err
		}
		if err := r.Store.FireNow(ctx, job); err != nil {
			return err
		}
		res.Refired++
		r.Log.Warn("reconcile: re-fired overdue follow-up", "clinic", f.ClinicID, "session", f.SessionID, "step", f.Step, "due_at", f.DueAt)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("reconcile follow-ups: %w", err)
	}
	return res, nil
}

// Start schedules the reconciler on spec (a robfig/cron spec such as
// "@every 5m" or "*/10 * * * *") and returns the running cron; Stop it on
// shutdown. A run still going when the next is due is skipped.
func Start(ctx context.Context, spec string, r *Reconciler) (*cron.Cron, error) {
	c := cron.New(
		cron.WithLocation(time.UTC),
		cron.WithChain(cron.Recover(cronLogger{r.Log}), cron.SkipIfStillRunning(cronLogger{r.Log})),
	)
	_, err := c.AddFunc(spec, func() {
		start := time.Now()
		res, err := r.Run(ctx)
		if err != nil {
			r.Log.Error("reconcile failed", "err", err)
			return
		}
		r.Log.Info("reconcile done", "checked", res.Checked, "refired", res.Refired, "took", time.Since(start).Round(time.Millisecond))
	})
	if err != nil {
		return nil, fmt.Errorf("RECONCILE_SCHEDULE %q: %w", spec, err)
	}
	c.Start()
	return c, nil
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
