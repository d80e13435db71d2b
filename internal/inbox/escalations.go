package inbox

import (
	"context"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation"
)

// Escalations is what the inbox needs of the escalation lifecycle:
// acknowledging here stops the chain and is recorded in the escalation's
// history with its author, as from the JSON API or an "ACK" text.
type Escalations interface {
	Acknowledge(ctx context.Context, clinicID, escalationID string, by aftercare.Author, note string) (aftercare.Escalation, error)
	Resolve(ctx context.Context, clinicID, escalationID string, by aftercare.Author, note string) (aftercare.Escalation, error)
}

var _ Escalations = (*escalation.Lifecycle)(nil)
