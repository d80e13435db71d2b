package erasure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/sms"
)

// MessageDeleter deletes a message from the SMS provider's own logs; the
// twilio driver is one (twilio.Sender.DeleteMessage).
type MessageDeleter interface {
	DeleteMessage(ctx context.Context, sid string) error
}

// TwilioEraser is the worker's handler of the jobs an erasure queues for a
// clinic with erase_at_twilio: it deletes each message at Twilio. A job
// done again deletes nothing twice (Twilio's 404 counts as done).
type TwilioEraser struct {
	// Deleter is nil when the SMS driver keeps no logs to delete from (the
	// console driver): the job is done.
	Deleter MessageDeleter
	Log     *slog.Logger
}

// Handle deletes one job's messages, each on its own: one Twilio cannot
// delete yet (a text still being delivered) or refuses does not keep the
// others in its logs. When some could not be deleted for now the job is
// tried again later (those deleted are then 404 to Twilio: done); when
// only refusals are left (a key not allowed to delete) it is given up to
// the dead-letter stream, SIDs and reason, for an operator to look at.
func (e *TwilioEraser) Handle(ctx context.Context, msg jetstream.Msg) error {
	var job natsjs.TwilioErasure
	if err := json.Unmarshal(msg.Data(), &job); err != nil {
		return jobs.GiveUp(fmt.Errorf("decode Twilio erasure: %w", err))
	}
	if e.Deleter == nil {
		e.Log.Warn("erase at Twilio: the SMS driver keeps no messages to delete", "clinic", job.ClinicID, "messages", len(job.SIDs))
		return nil
	}
	var later, refused []error
	wait := laterDelete
	for _, sid := range job.SIDs {
		err := e.Deleter.DeleteMessage(ctx, sid)
		var temporary *sms.TemporaryError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return err // out of time: the whole job again
		case sms.IsPermanent(err):
			refused = append(refused, err)
		default:
			later = append(later, err)
			if errors.As(err, &temporary) {
				wait = max(wait, temporary.RetryAfter)
			}
		}
	}
	switch {
	case len(later) > 0:
		e.Log.Warn("erase at Twilio: some messages not deleted yet", "clinic", job.ClinicID, "messages", len(job.SIDs), "later", len(later), "refused", len(refused))
		return jobs.Retry(wait, fmt.Errorf("%d of %d messages not deleted yet, first: %w", len(later), len(job.SIDs), later[0]))
	case len(refused) > 0:
		return jobs.GiveUp(fmt.Errorf("%d of %d messages refused, first: %w", len(refused), len(job.SIDs), refused[0]))
	}
	e.Log.Info("erased at Twilio", "clinic", job.ClinicID, "messages", len(job.SIDs))
	return nil
}

// laterDelete is the least wait before messages not deleted are tried
// again: an outage or a delivery still under way lasts minutes.
const laterDelete = 30 * time.Second
