package erasure

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

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

// Handle deletes one job's messages. A temporary failure is retried; a
// permanent one (Twilio refuses: a message still being delivered, a key
// not allowed to delete) gives the job up to the dead-letter stream, SIDs
// and reason, for an operator to look at.
func (e *TwilioEraser) Handle(ctx context.Context, msg jetstream.Msg) error {
	var job natsjs.TwilioErasure
	if err := json.Unmarshal(msg.Data(), &job); err != nil {
		return jobs.GiveUp(fmt.Errorf("decode Twilio erasure: %w", err))
	}
	if e.Deleter == nil {
		e.Log.Warn("erase at Twilio: the SMS driver keeps no messages to delete", "clinic", job.ClinicID, "messages", len(job.SIDs))
		return nil
	}
	for _, sid := range job.SIDs {
		err := e.Deleter.DeleteMessage(ctx, sid)
		if sms.IsPermanent(err) {
			return jobs.GiveUp(err)
		}
		if err != nil {
			return err
		}
	}
	e.Log.Info("erased at Twilio", "clinic", job.ClinicID, "messages", len(job.SIDs))
	return nil
}
