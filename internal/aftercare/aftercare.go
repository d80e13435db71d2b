// Package aftercare holds the service's domain types: session events, the
// follow-ups planned from them, and the rules about their fields. It has no
// dependencies beyond the standard library, so every other package can use it.
package aftercare

import (
	"strings"
	"time"
)

// Kind says what happened to a session.
type Kind string

const (
	KindCompleted   Kind = "completed"
	KindCancelled   Kind = "cancelled"
	KindRescheduled Kind = "rescheduled"
)

// Client is the person who had the session and receives the follow-ups.
type Client struct {
	Phone    string `json:"phone"`               // E.164, e.g. +447700900123
	Name     string `json:"name,omitempty"`      // first name used in greetings
	TimeZone string `json:"time_zone,omitempty"` // IANA name; the clinic's when empty
	Locale   string `json:"locale,omitempty"`    // BCP 47 tag, e.g. "en" or "es-MX"
}

// SessionEvent is what a clinic's booking system tells us about a session.
type SessionEvent struct {
	EventID  string `json:"event_id"`
	ClinicID string `json:"clinic_id,omitempty"` // optional: the credential names the clinic
	// SessionID is the booking system's id of the appointment.
	SessionID string `json:"session_id"`
	Kind      Kind   `json:"kind"`
	// SessionEnd is when the session ended (completed) or was to end.
	SessionEnd *time.Time `json:"session_end,omitempty"`
	// NewSessionEnd is the new end time of a rescheduled session.
	NewSessionEnd *time.Time `json:"new_session_end,omitempty"`
	Client        *Client    `json:"client,omitempty"`
	// Service is the kind of session ("deep_tissue", "pregnancy_massage"),
	// which picks the clinic's texts for it; optional. See ServiceKey.
	Service string `json:"service,omitempty"`
	// Consent is the client's agreement to texts, where the booking
	// system or the clinic recorded one; optional. It is kept in the
	// client's consent record (a clinic may require one before texting).
	Consent *Consent `json:"consent,omitempty"`
}

// ServiceKey writes a booking system's name of a service as a service key:
// lowercase letters and digits (accented Latin letters without their
// accents), runs of anything else as one "_", at most MaxServiceKey long.
// "Deep Tissue Massage (60 min)" is "deep_tissue_massage_60_min", "Masaje
// terapéutico" "masaje_terapeutico".
func ServiceKey(name string) string {
	var b strings.Builder
	gap := false
	for _, r := range unaccent.Replace(strings.ToLower(name)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			gap = false
			b.WriteRune(r)
			continue
		}
		gap = true
	}
	key := b.String()
	if len(key) > MaxServiceKey {
		key = strings.TrimRight(key[:MaxServiceKey], "_")
	}
	return key
}

var unaccent = strings.NewReplacer("á", "a", "à", "a", "â", "a", "ä", "a", "ã", "a", "å", "a", "é", "e", "è", "e", "ê", "e", "ë", "e",
	"í", "i", "ì", "i", "î", "i", "ï", "i", "ó", "o", "ò", "o", "ô", "o", "ö", "o", "õ", "o", "ú", "u", "ù", "u", "û", "u", "ü", "u",
	"ñ", "n", "ç", "c", "ß", "ss")

// MaxServiceKey is the longest service key.
const MaxServiceKey = 40

// PlanEnd is the end time the follow-up plan counts from: the new end of a
// rescheduled session, the end of a completed one, none for a cancellation.
func (e SessionEvent) PlanEnd() (time.Time, bool) {
	switch e.Kind {
	case KindCompleted:
		if e.SessionEnd != nil {
			return *e.SessionEnd, true
		}
	case KindRescheduled:
		if e.NewSessionEnd != nil {
			return *e.NewSessionEnd, true
		}
	}
	return time.Time{}, false
}

// Step numbers a follow-up within a plan: 1, 2, 3 for day 1, 2, 3.
type Step int

// SessionStatus is where a session stands in our records.
type SessionStatus string

const (
	SessionActive    SessionStatus = "active"    // follow-ups planned or under way
	SessionCancelled SessionStatus = "cancelled" // cancelled: nothing more is sent
)

// Session is our record of one clinic session and its current plan.
type Session struct {
	ClinicID  string        `json:"clinic_id"`
	SessionID string        `json:"session_id"`
	Status    SessionStatus `json:"status"`
	Client    Client        `json:"client"`
	End       time.Time     `json:"end"`
	// Service is the session's kind, from its latest event that named one.
	Service string `json:"service,omitempty"`
	// PlanVersion is the stream sequence of the event that made the current
	// plan; a due follow-up from an older plan is stale and is not sent.
	PlanVersion uint64 `json:"plan_version"`
	// RecentEvents remembers the last event ids applied, so a replay of an
	// old event changes nothing even after JetStream's duplicate window.
	RecentEvents []string `json:"recent_events"`
	// EscalationID is set when the client reported getting worse: the
	// clinic takes over and no more generic tips are sent for the session.
	EscalationID string    `json:"escalation_id,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// FollowUpStatus is the life of one follow-up step.
type FollowUpStatus string

const (
	FollowUpScheduled FollowUpStatus = "scheduled" // a durable timer is set
	FollowUpSending   FollowUpStatus = "sending"   // a worker has claimed it
	FollowUpSent      FollowUpStatus = "sent"      // the SMS provider accepted it
	FollowUpCancelled FollowUpStatus = "cancelled" // the session was cancelled or moved
	FollowUpSkipped   FollowUpStatus = "skipped"   // not sent, with a reason (stale, opted out)
	FollowUpDead      FollowUpStatus = "dead"      // given up, dead-lettered with a reason
)

// Final reports whether nothing more will happen to a follow-up in this status.
func (s FollowUpStatus) Final() bool {
	switch s {
	case FollowUpSent, FollowUpCancelled, FollowUpSkipped, FollowUpDead:
		return true
	}
	return false
}

// FollowUp is the record of one planned follow-up SMS. A field added here
// changes FollowUpFormat.
type FollowUp struct {
	ClinicID    string         `json:"clinic_id"`
	SessionID   string         `json:"session_id"`
	Step        Step           `json:"step"`
	PlanVersion uint64         `json:"plan_version"`
	DueAt       time.Time      `json:"due_at"`
	Status      FollowUpStatus `json:"status"`
	Reason      string         `json:"reason,omitempty"`
	Attempts    int            `json:"attempts,omitempty"`
	ClaimedAt   time.Time      `json:"claimed_at,omitzero"`
	// MaybeSentSince is when the first attempt began that may have reached
	// the SMS provider without our knowing: its worker died mid-send, or no
	// answer came back. Before sending again, the worker asks the provider.
	MaybeSentSince time.Time `json:"maybe_sent_since,omitzero"`
	MessageSID     string    `json:"message_sid,omitempty"`
	SentAt         time.Time `json:"sent_at,omitzero"`
	// Delivery is Twilio's last reported status of the sent text.
	Delivery      string    `json:"delivery,omitempty"`
	DeliveryError string    `json:"delivery_error,omitempty"`
	DeliveryAt    time.Time `json:"delivery_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// DueFollowUp is the job that fires when a follow-up falls due.
type DueFollowUp struct {
	ClinicID    string    `json:"clinic_id"`
	SessionID   string    `json:"session_id"`
	Step        Step      `json:"step"`
	PlanVersion uint64    `json:"plan_version"`
	DueAt       time.Time `json:"due_at"`
	// PlannedRevision, when set, is the revision at which the follow-up's
	// record was Untouched when this job was made. A worker then knows the
	// record without reading it: its claim is conditional on that revision,
	// so it fails if anything has changed the record since, and the worker
	// reads it then. 0 (older jobs, or a record already touched): read it.
	PlannedRevision uint64 `json:"planned_revision,omitempty"`
	// PlannedFormat is the FollowUpFormat of the program that made the job
	// and judged the record Untouched; the scheduler and the worker are
	// deployed apart, and one that knows fewer fields would judge wrongly.
	PlannedFormat int `json:"planned_format,omitempty"`
	// Client and Service, set with PlannedRevision, are the session's as
	// its plan was made: the worker sends without reading the session.
	// Whatever would stop the text changes the follow-up's record, so the
	// claim fails and the worker reads both: a later event of the session
	// (a move, a cancellation, new client details) marks the earlier
	// plans' records before it writes the session, an escalation's hold
	// cancels them before and after, and the planner reads the session
	// again once a plan is written, for a change that came while it wrote
	// (planner.recheck).
	Client  *Client `json:"client,omitempty"`
	Service string  `json:"service,omitempty"`
}

// FollowUpFormat names FollowUp's fields as this build knows them. Add one
// to it with any field added to FollowUp, so that a worker does not take a
// record as planned on the word of a scheduler that cannot see the field.
const FollowUpFormat = 1

// KnowsRecord reports whether the job describes its record as it is at
// PlannedRevision (see Planned), in this build's FollowUpFormat.
func (d DueFollowUp) KnowsRecord() bool {
	return d.PlannedRevision != 0 && d.PlannedFormat == FollowUpFormat
}

// DueOf is the job of follow-up record f, read or written at revision rev.
func DueOf(f FollowUp, rev uint64) DueFollowUp {
	d := DueFollowUp{ClinicID: f.ClinicID, SessionID: f.SessionID, Step: f.Step, PlanVersion: f.PlanVersion, DueAt: f.DueAt}
	if f.Untouched() {
		d.PlannedRevision, d.PlannedFormat = rev, FollowUpFormat
	}
	return d
}

// DueWithSession is DueOf for a job that also carries what its send needs
// from session s, when s is the active, unescalated session of f's plan
// and f is untouched; otherwise the worker reads the session. A field
// added to Session that should stop a text must be checked here, and
// whatever sets it must change the follow-ups' records as the planner and
// an escalation do.
func DueWithSession(f FollowUp, rev uint64, s *Session) DueFollowUp {
	d := DueOf(f, rev)
	if s != nil && d.PlannedRevision != 0 && s.PlanVersion == f.PlanVersion &&
		s.Status == SessionActive && s.EscalationID == "" && s.ClinicID == f.ClinicID && s.SessionID == f.SessionID {
		client := s.Client
		d.Client, d.Service = &client, s.Service
	}
	return d
}

// PlannedSession is the session as the job's plan saw it, when the job
// carries it (see DueWithSession) and describes its record.
func (d DueFollowUp) PlannedSession() (Session, bool) {
	if d.Client == nil || !d.KnowsRecord() {
		return Session{}, false
	}
	return Session{ClinicID: d.ClinicID, SessionID: d.SessionID, Status: SessionActive,
		PlanVersion: d.PlanVersion, Service: d.Service, Client: *d.Client}, true
}

// Planned is the record of an untouched follow-up as its job describes it,
// UpdatedAt aside: what the record holds at PlannedRevision.
func (d DueFollowUp) Planned() FollowUp {
	return FollowUp{ClinicID: d.ClinicID, SessionID: d.SessionID, Step: d.Step, PlanVersion: d.PlanVersion, DueAt: d.DueAt, Status: FollowUpScheduled}
}

// Untouched reports whether a follow-up record is a scheduled step as the
// plan wrote it, with nothing else in it (no attempt, reason or delivery):
// all of it but UpdatedAt is then in its job. Compared field by field
// through Planned, so a field added to FollowUp later counts as a touch.
func (f FollowUp) Untouched() bool {
	planned := DueFollowUp{ClinicID: f.ClinicID, SessionID: f.SessionID, Step: f.Step, PlanVersion: f.PlanVersion, DueAt: f.DueAt}.Planned()
	planned.UpdatedAt = f.UpdatedAt
	return f == planned
}
