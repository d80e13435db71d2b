package natsjs

import (
	"context"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// TouchClient writes a client's record back unchanged but for its time, if
// it is still at revision rev, and fails with ErrConflict otherwise. The
// planner merges a client's sessions into one plan between reading the record
// and touching it: a conflict means another session of the client was noted
// or merged meanwhile, and the merge is made again.
func (s *Store) TouchClient(ctx context.Context, rec aftercare.ClientRecord, rev uint64, now time.Time) error {
	rec.UpdatedAt = now
	_, err := saveJSON(ctx, s.clients, phoneKey(rec.ClinicID, rec.Phone), rec, rev)
	return err
}
