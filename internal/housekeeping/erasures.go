package housekeeping

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/aftercare/aftercare/internal/erasure"
)

// AddErasureSweep runs the sweep of erasure tombstones on spec in the
// housekeeping cron c: a tombstone no job will take down would refuse the
// client's sessions for good.
func AddErasureSweep(ctx context.Context, c *cron.Cron, spec string, jobs *erasure.Jobs, log *slog.Logger) error {
	_, err := c.AddFunc(spec, func() {
		start := time.Now()
		res, err := jobs.Sweep(ctx)
		if err != nil {
			log.Error("erasure sweep failed", "err", err)
		}
		if res.Cleared > 0 || res.Requeued > 0 || err != nil {
			log.Info("erasure sweep done", "tombstones", res.Checked, "cleared", res.Cleared, "requeued", res.Requeued,
				"took", time.Since(start).Round(time.Millisecond))
		}
	})
	if err != nil {
		return fmt.Errorf("erasure sweep %q: %w", spec, err)
	}
	return nil
}
