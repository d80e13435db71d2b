package natsjs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultEscalationRetention keeps escalation records eight years: an
// escalation is part of the client's clinical record (what they reported,
// who was told, who acted and when), and UK physiotherapists must keep
// clinical records at least eight years after treatment ends (CSP record
// keeping guidance; longer for children). A 30-day TTL, like the
// follow-ups', would silently erase them.
const DefaultEscalationRetention = 8 * 365 * 24 * time.Hour

// ChainTimer is the job a chain timer fires: step Step of an escalation's
// chain, or the reminder to its owner.
type ChainTimer struct {
	ClinicID     string    `json:"clinic_id"`
	EscalationID string    `json:"escalation_id"`
	Step         int       `json:"step,omitempty"` // 1.. for a chain step
	Remind       bool      `json:"remind,omitempty"`
	At           time.Time `json:"at"`
}

func chainSubjects(t ChainTimer) (schedule, due string) {
	suffix := t.ClinicID + "." + Token(t.EscalationID)
	if t.Remind {
		suffix += ".remind"
	} else {
		suffix += ".step." + strconv.Itoa(t.Step)
	}
	return "chain.schedule." + suffix, "chain.due." + suffix
}

// ScheduleChain sets a chain timer: a JetStream message schedule, as the
// follow-ups' are, so it survives restarts of every program and fires once.
// Setting it again replaces it.
func (s *Store) ScheduleChain(ctx context.Context, t ChainTimer) error {
	schedule, due := chainSubjects(t)
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode chain timer: %w", err)
	}
	msg := nats.NewMsg(schedule)
	msg.Data = data
	msg.Header.Set(jetstream.ScheduleHeader, "@at "+t.At.UTC().Format(time.RFC3339Nano))
	msg.Header.Set(jetstream.ScheduleTargetHeader, due)
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("schedule chain step %s: %w", schedule, err)
	}
	return nil
}

// CancelChain removes an escalation's pending step timers and, with
// reminder, its reminder too. A step that already fired is stopped by its
// handler's check of the escalation.
func (s *Store) CancelChain(ctx context.Context, clinic, id string, reminder bool) error {
	stream, err := s.js.Stream(ctx, StreamChain)
	if err != nil {
		return fmt.Errorf("cancel chain: %w", err)
	}
	base := "chain.schedule." + clinic + "." + Token(id)
	filters := []string{base + ".step.>"}
	if reminder {
		filters = append(filters, base+".remind")
	}
	for _, f := range filters {
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject(f)); err != nil {
			return fmt.Errorf("cancel chain %s: %w", f, err)
		}
	}
	return nil
}

// PendingChain counts an escalation's timers still waiting.
func (s *Store) PendingChain(ctx context.Context, clinic, id string) (uint64, error) {
	stream, err := s.js.Stream(ctx, StreamChain)
	if err != nil {
		return 0, err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter("chain.schedule."+clinic+"."+Token(id)+".>"))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}
