package inbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// Escalations is what the inbox needs of the escalation lifecycle. The
// adapter below works on the records as they are today; once the
// escalation package owns the lifecycle (chain, history), it replaces it.
type Escalations interface {
	Acknowledge(ctx context.Context, clinicID, escalationID string, by aftercare.Author, note string) error
	Resolve(ctx context.Context, clinicID, escalationID string, by aftercare.Author, note string) error
}

var _ Escalations = (*StoreEscalations)(nil)

// ErrEscalationClosed is acknowledging an escalation already resolved.
var ErrEscalationClosed = errors.New("this escalation is already resolved")

// StoreEscalations changes escalation records in the store directly, as
// the JSON API does today. The note and author also go to the audit
// trail (the inbox records it), so a second note loses nothing.
type StoreEscalations struct {
	Store *natsjs.Store
	Now   func() time.Time
}

func (s *StoreEscalations) Acknowledge(ctx context.Context, clinic, id string, by aftercare.Author, note string) error {
	return s.change(ctx, clinic, id, aftercare.EscalationAcknowledged, by, note)
}

func (s *StoreEscalations) Resolve(ctx context.Context, clinic, id string, by aftercare.Author, note string) error {
	return s.change(ctx, clinic, id, aftercare.EscalationResolved, by, note)
}

var errSame = errors.New("unchanged")

func (s *StoreEscalations) change(ctx context.Context, clinic, id string, to aftercare.EscalationStatus, by aftercare.Author, note string) error {
	now := s.Now()
	_, err := s.Store.UpdateEscalation(ctx, clinic, id, func(e *aftercare.Escalation) error {
		switch {
		case e.Status == to:
			return errSame
		case e.Status == aftercare.EscalationResolved:
			return ErrEscalationClosed
		}
		e.Status, e.UpdatedAt = to, now
		if e.AcknowledgedAt.IsZero() {
			e.AcknowledgedAt, e.AcknowledgedBy = now, by.Name
		}
		if to == aftercare.EscalationResolved {
			e.ResolvedAt, e.ResolvedBy = now, by.Name
		}
		if note != "" {
			e.Note = note
		}
		return nil
	})
	if errors.Is(err, errSame) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s escalation %s: %w", to, id, err)
	}
	return nil
}
