package escalation

import (
	"context"
	"errors"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// Raise records the escalation of a client's reply and announces it: the
// record, the event the notifier acts on (first, so the clinic hears as
// soon as possible), then the hold on the session's remaining tips (steps
// is how many a plan has). Each step is idempotent: raising the same reply
// again finds the record and changes nothing. cancelled counts the tips
// this call cancelled.
func (l *Lifecycle) Raise(ctx context.Context, clinic *clinics.Clinic, rec aftercare.Reply, clientName string, steps int) (e aftercare.Escalation, cancelled int, err error) {
	now := l.Now()
	e = aftercare.Escalation{
		ID: "esc_" + rec.MessageSID, ClinicID: clinic.ID, SessionID: rec.SessionID,
		ClientPhone: rec.From, ClientName: clientName,
		Class: rec.Class, Flag: rec.Flag, Reason: rec.Reason, Score: rec.Score,
		ReplySID: rec.MessageSID, ReplyBody: rec.Body, ReceivedAt: rec.ReceivedAt, RaisedAt: now,
		Status: aftercare.EscalationOpen, History: []aftercare.EscalationEntry{}, UpdatedAt: now,
	}
	if _, err := l.Store.SaveEscalation(ctx, e, 0); errors.Is(err, natsjs.ErrConflict) {
		if e, _, err = l.Store.Escalation(ctx, clinic.ID, e.ID); err != nil {
			return e, 0, err
		}
	} else if err != nil {
		return e, 0, err
	}
	if err := l.Store.PublishEscalation(ctx, e); err != nil {
		return e, 0, err
	}
	if rec.SessionID == "" {
		return e, 0, nil
	}
	// The tips are held before the session says so, and again after. A
	// worker sends a job that carries its session without reading the
	// session: the hold must reach the records even if this stops between
	// the writes, and the second pass finds a plan written meanwhile (the
	// planner, for its part, reads the session again once it has written one).
	reason := "client escalated to the clinic: " + e.ID
	if cancelled, err = l.Store.CancelFollowUps(ctx, clinic.ID, rec.SessionID, steps, reason, now); err != nil {
		return e, cancelled, err
	}
	if l.betweenHolds != nil {
		l.betweenHolds()
	}
	err = l.Store.UpdateSession(ctx, clinic.ID, rec.SessionID, func(s *aftercare.Session) bool {
		if s.EscalationID != "" {
			return false
		}
		s.EscalationID, s.UpdatedAt = e.ID, now
		return true
	})
	if err != nil && !errors.Is(err, aftercare.ErrNotFound) {
		return e, cancelled, err
	}
	more, err := l.Store.CancelFollowUps(ctx, clinic.ID, rec.SessionID, steps, reason, now)
	return e, cancelled + more, err
}
