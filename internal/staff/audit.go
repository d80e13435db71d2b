package staff

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// Entry is one action by someone at a clinic. Entries are only ever
// appended (the stream denies deletes and purges), so a second note never
// overwrites the first.
type Entry struct {
	At       time.Time        `json:"at"`
	ClinicID string           `json:"clinic_id"`
	Author   aftercare.Author `json:"author"`
	Action   string           `json:"action"` // such as "acknowledge", "reply", "assign", "done", "create_account"
	Kind     string           `json:"kind"`   // what it was done to: "conversation", "escalation", "account"
	Target   string           `json:"target"` // its id (a conversation's is the client's number)
	Note     string           `json:"note,omitempty"`
}

// Audit appends entries to the audit stream and reads a target's back.
type Audit struct {
	JS  jetstream.JetStream
	Now func() time.Time
}

func auditSubject(clinic, kind, target string) string {
	return "audit." + clinic + "." + kind + "." + natsjs.Token(target)
}

// Record appends an entry; At is set when zero.
func (a *Audit) Record(ctx context.Context, e Entry) error {
	if e.At.IsZero() {
		e.At = a.Now()
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(auditSubject(e.ClinicID, e.Kind, e.Target))
	msg.Data = data
	if _, err := a.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("record %s of %s: %w", e.Action, e.Kind, err)
	}
	return nil
}

// maxHistory bounds what one page shows of a target's history.
const maxHistory = 500

// History returns a target's entries, oldest first. The clinic is in the
// subject, so one clinic never reads another's.
func (a *Audit) History(ctx context.Context, clinic, kind, target string) ([]Entry, error) {
	c, err := a.JS.CreateConsumer(ctx, natsjs.StreamAudit, jetstream.ConsumerConfig{
		FilterSubject:     auditSubject(clinic, kind, target),
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer func() { _ = a.JS.DeleteConsumer(context.WithoutCancel(ctx), natsjs.StreamAudit, c.CachedInfo().Name) }()
	pending := min(int(c.CachedInfo().NumPending), maxHistory)
	var out []Entry
	for len(out) < pending {
		batch, err := c.Fetch(pending-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var e Entry
			if json.Unmarshal(m.Data(), &e) == nil {
				out = append(out, e)
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		if n == 0 {
			break
		}
	}
	return out, nil
}
