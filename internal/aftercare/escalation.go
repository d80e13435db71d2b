package aftercare

import (
	"errors"
	"fmt"
	"time"
)

// EntryKind says what an entry in an escalation's history records.
type EntryKind string

const (
	EntryAcknowledged EntryKind = "acknowledged"
	EntryNote         EntryKind = "note"
	EntryAssigned     EntryKind = "assigned"
	EntryResolved     EntryKind = "resolved"
	EntryChainStep    EntryKind = "chain_step" // a step of the chain fired: who was paged
	EntryReminder     EntryKind = "reminder"   // the owner was reminded it is not resolved
)

// EscalationEntry is one thing done to an escalation, and by whom.
type EscalationEntry struct {
	At   time.Time `json:"at"`
	Kind EntryKind `json:"kind"`
	By   Author    `json:"by"`
	Note string    `json:"note,omitempty"`
	// To is who an assignment gave the escalation to.
	To *Author `json:"to,omitempty"`
}

// Chain is the state of an escalation's chain of deadlines.
type Chain struct {
	// ScheduledAt is when the steps' timers were set.
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	// Steps records each step that has fired, by its place in the chain
	// (1 is the first step after the immediate notice).
	Steps []ChainStepRecord `json:"steps,omitempty"`
	// OwnerPhone is the contact phone that acknowledged by text, to remind.
	OwnerPhone string    `json:"owner_phone,omitempty"`
	RemindedAt time.Time `json:"reminded_at,omitzero"`
}

// ChainStepRecord is what one step did. Done holds each action taken
// ("text:+44...", "call:+44...", "email") with the provider's id, so a step
// run again after a crash does not repeat them.
type ChainStepRecord struct {
	Step    int               `json:"step"`
	FiredAt time.Time         `json:"fired_at,omitzero"`
	Done    map[string]string `json:"done,omitempty"`
	Errors  []string          `json:"errors,omitempty"`
}

// StepRecord returns the record of step n, adding an empty one if needed.
func (c *Chain) StepRecord(n int) *ChainStepRecord {
	for i := range c.Steps {
		if c.Steps[i].Step == n {
			return &c.Steps[i]
		}
	}
	c.Steps = append(c.Steps, ChainStepRecord{Step: n, Done: map[string]string{}})
	return &c.Steps[len(c.Steps)-1]
}

// ActionDone says whether step n's record has the action key (as in
// ChainStepRecord.Done) done.
func (c Chain) ActionDone(n int, key string) bool {
	for _, r := range c.Steps {
		if _, done := r.Done[key]; r.Step == n && done {
			return true
		}
	}
	return false
}

// ErrUnchanged means the change was already made: repeating it is harmless.
var ErrUnchanged = errors.New("already so")

// TransitionError is a change an escalation's status does not allow.
type TransitionError struct{ From, To EscalationStatus }

func (e *TransitionError) Error() string {
	return fmt.Sprintf("escalation is %s; it cannot be %s", e.From, e.To)
}

// ErrEmptyNote is a note with nothing in it.
var ErrEmptyNote = errors.New("a note needs some text")

// Acknowledge records that by has taken the escalation: the first
// acknowledgement owns it. Acknowledging again adds the note, if any, and
// returns ErrUnchanged; a resolved escalation cannot be acknowledged.
func (e *Escalation) Acknowledge(by Author, note string, at time.Time) error {
	switch e.Status {
	case EscalationResolved:
		return &TransitionError{From: e.Status, To: EscalationAcknowledged}
	case EscalationAcknowledged:
		if note != "" {
			e.add(EscalationEntry{At: at, Kind: EntryNote, By: by, Note: note})
		}
		return ErrUnchanged
	}
	e.Status = EscalationAcknowledged
	e.AcknowledgedAt, e.AcknowledgedBy = at, by.Name
	owner := by
	e.Owner = &owner
	e.add(EscalationEntry{At: at, Kind: EntryAcknowledged, By: by, Note: note})
	return nil
}

// Resolve records that the clinic has dealt with the escalation. Resolving
// an open one acknowledges it too, by the same person.
func (e *Escalation) Resolve(by Author, note string, at time.Time) error {
	if e.Status == EscalationResolved {
		if note != "" {
			e.add(EscalationEntry{At: at, Kind: EntryNote, By: by, Note: note})
		}
		return ErrUnchanged
	}
	if e.AcknowledgedAt.IsZero() {
		e.AcknowledgedAt, e.AcknowledgedBy = at, by.Name
	}
	if e.Owner == nil {
		owner := by
		e.Owner = &owner
	}
	e.Status = EscalationResolved
	e.ResolvedAt, e.ResolvedBy = at, by.Name
	e.add(EscalationEntry{At: at, Kind: EntryResolved, By: by, Note: note})
	return nil
}

// AddNote adds a note; notes never replace one another.
func (e *Escalation) AddNote(by Author, note string, at time.Time) error {
	if note == "" {
		return ErrEmptyNote
	}
	e.add(EscalationEntry{At: at, Kind: EntryNote, By: by, Note: note})
	return nil
}

// Assign gives the escalation to someone. It does not acknowledge it: the
// chain goes on until someone does.
func (e *Escalation) Assign(by, to Author, at time.Time) error {
	if e.Status == EscalationResolved {
		return &TransitionError{From: e.Status, To: "assigned"}
	}
	if e.Owner != nil && *e.Owner == to {
		return ErrUnchanged
	}
	owner := to
	e.Owner = &owner
	e.add(EscalationEntry{At: at, Kind: EntryAssigned, By: by, To: &owner})
	return nil
}

// Record appends an entry by the service itself, such as a chain step.
func (e *Escalation) Record(kind EntryKind, note string, at time.Time) {
	e.add(EscalationEntry{At: at, Kind: kind, By: Author{Kind: AuthorSystem, Name: "aftercare"}, Note: note})
}

func (e *Escalation) add(entry EscalationEntry) {
	e.History = append(e.History, entry)
	if entry.Note != "" && entry.Kind != EntryChainStep && entry.Kind != EntryReminder {
		e.Note = entry.Note // the latest, as the field always showed
	}
	e.UpdatedAt = entry.At
}
