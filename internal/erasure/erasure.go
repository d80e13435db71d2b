// Package erasure exports and erases what the service holds about one
// client of one clinic (GDPR articles 15 and 17): their client record,
// sessions, follow-ups and timers, replies, inbox conversation and staff
// replies, dead letters and quota counters. What the clinic must keep
// (escalations, the clinical record; an opt-out, so a STOP keeps working;
// the append-only audit trail, unlinked from the client) is kept, and the
// answer says so.
package erasure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/phone"
	"github.com/aftercare/aftercare/internal/quota"
	"github.com/aftercare/aftercare/internal/staff"
)

// Service finds, exports and erases one client's data.
type Service struct {
	Store *natsjs.Store
	Inbox *inbox.Store
	Audit *staff.Audit
	// Steps is how many follow-ups a session has.
	Steps int
	Now   func() time.Time
	// EscalationRetention is how long escalation records are kept, to say so.
	EscalationRetention time.Duration
	// AtTwilio says whether a clinic has Twilio delete an erased client's
	// messages from its logs too (its erase_at_twilio); nil: none does.
	AtTwilio func(clinic string) bool
	// Log says which records could not be decoded (by key, never the number).
	Log *slog.Logger
}

// Export is everything held about one client at one clinic.
type Export struct {
	ClinicID     string                  `json:"clinic_id"`
	Phone        string                  `json:"phone"`
	ExportedAt   time.Time               `json:"exported_at"`
	Client       *aftercare.ClientRecord `json:"client,omitempty"`
	Sessions     []SessionExport         `json:"sessions"`
	Replies      []aftercare.Reply       `json:"replies"`
	Escalations  []aftercare.Escalation  `json:"escalations"`
	Conversation ConversationExport      `json:"conversation"`
	// OptOut is the client's opt-out ("opted out at ...") or the mark of a
	// number whose texts fail; empty when neither.
	OptOut      string       `json:"opt_out,omitempty"`
	DeadLetters []DeadLetter `json:"dead_letters"`
	// Consent is the client's consent record: agreements, opt-outs and
	// opt-ins with their time and channel.
	Consent *aftercare.ConsentRecord `json:"consent,omitempty"`
}

// SessionExport is a session with its follow-ups.
type SessionExport struct {
	aftercare.Session
	FollowUps []FollowUpExport `json:"follow_ups"`
}

// FollowUpExport is a follow-up and whether its timer is still waiting.
type FollowUpExport struct {
	aftercare.FollowUp
	TimerPending bool `json:"timer_pending"`
}

// ConversationExport is the inbox's conversation with the client.
type ConversationExport struct {
	ID           string           `json:"id"`
	State        inbox.State      `json:"state"`
	StaffReplies []inbox.Outbound `json:"staff_replies"`
	// Audit is what staff did in the conversation, oldest first.
	Audit []staff.Entry `json:"audit"`
}

// DeadLetter is a message given up on that names the client.
type DeadLetter struct {
	Subject string    `json:"subject"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	Data    string    `json:"data"`
}

// Empty reports whether nothing at all is held about the client. After an
// erasure what was kept (the audit entries, at least) is still held, and
// exported.
func (e Export) Empty() bool {
	return e.Client == nil && len(e.Sessions) == 0 && len(e.Replies) == 0 && len(e.Escalations) == 0 &&
		e.Conversation.State == (inbox.State{}) && len(e.Conversation.StaffReplies) == 0 && len(e.Conversation.Audit) == 0 &&
		e.OptOut == "" && len(e.DeadLetters) == 0 && e.Consent == nil
}

// HoldsConversation reports whether the client's conversation is still
// held: their client record, sessions, texts, or the inbox's state and
// staff replies. Only then is a staff action on their data (an export)
// filed under the conversation's audit id; what an erasure keeps (their
// escalations, a STOP) or retention keeps (the consent record) does not
// bring that link back.
func (e Export) HoldsConversation() bool {
	return e.Client != nil || len(e.Sessions) > 0 || len(e.Replies) > 0 ||
		e.Conversation.State != (inbox.State{}) || len(e.Conversation.StaffReplies) > 0
}

// found is one client's data as erasure needs it: the records and the
// ids that name them elsewhere.
type found struct {
	export   Export
	sessions []string // session ids, from their records and the client record
	sids     []string // Twilio's ids of the texts both ways
	// The client's own records that cannot be decoded: erased by key like
	// the rest (the key names the client, or the bytes the number).
	badClient, badConsent bool
	badReplies            []string // keys
	// badAudit counts the conversation's audit entries that cannot be
	// decoded: the audit stream is append-only, so they are kept, unlinked
	// with the rest, and the answer says so.
	badAudit int
	// written finds the number as the clinic's booking systems write it
	// too, in the payloads a refused webhook dead-letters as they came.
	written phone.Written
}

// skipped logs a record passed over because it cannot be decoded. Its key
// names no number (replies and escalations are keyed by Twilio's and the
// service's ids).
func (s *Service) skipped(clinic, bucket, key string) {
	if s.Log != nil {
		s.Log.Warn("record cannot be decoded: not the client's, left as it is", "clinic", clinic, "bucket", bucket, "key", key)
	}
}

// phones are the clinic's phone rules (its countries, where a national
// number is the clinic's); none when the clinics are not known here.
func (s *Service) phones(clinic string) phone.Rules {
	if s.Inbox != nil && s.Inbox.Clinics != nil {
		if c, ok := s.Inbox.Clinics.Lookup(clinic); ok {
			return c.Phones
		}
	}
	return phone.Rules{}
}

func (s *Service) find(ctx context.Context, clinic, phone string) (found, error) {
	f := found{export: Export{ClinicID: clinic, Phone: phone, ExportedAt: s.Now().UTC(),
		Sessions: []SessionExport{}, Replies: []aftercare.Reply{}, Escalations: []aftercare.Escalation{}, DeadLetters: []DeadLetter{}},
		written: s.phones(clinic).Written(phone)}
	x := &f.export
	client, _, err := s.Store.Client(ctx, clinic, phone)
	switch {
	case err == nil:
		x.Client = &client
		for _, cs := range client.Sessions {
			f.sessions = append(f.sessions, cs.SessionID)
		}
	case errors.Is(err, natsjs.ErrCorrupt):
		f.badClient = true // its sessions are found by their records below
	case !errors.Is(err, aftercare.ErrNotFound):
		return f, err
	}
	switch consent, err := s.Store.Consent(ctx, clinic, phone); {
	case err == nil:
		x.Consent = &consent
	case errors.Is(err, natsjs.ErrCorrupt):
		f.badConsent = true
	case !errors.Is(err, aftercare.ErrNotFound):
		return f, err
	}
	sessions, err := s.Store.ClientSessions(ctx, clinic, phone)
	if err != nil {
		return f, err
	}
	for _, rec := range sessions {
		if !slices.Contains(f.sessions, rec.SessionID) {
			f.sessions = append(f.sessions, rec.SessionID)
		}
		se := SessionExport{Session: rec, FollowUps: []FollowUpExport{}}
		var fus []aftercare.FollowUp
		for step := 1; step <= s.Steps; step++ {
			// One that cannot be decoded is erased with the session's keys.
			fu, _, err := s.Store.FollowUp(ctx, clinic, rec.SessionID, aftercare.Step(step))
			if errors.Is(err, aftercare.ErrNotFound) || errors.Is(err, natsjs.ErrCorrupt) {
				continue
			}
			if err != nil {
				return f, err
			}
			fus = append(fus, fu)
		}
		for _, fu := range fus {
			pending, err := s.Store.TimerPending(ctx, aftercare.DueFollowUp{ClinicID: clinic, SessionID: fu.SessionID, Step: fu.Step})
			if err != nil {
				return f, err
			}
			se.FollowUps = append(se.FollowUps, FollowUpExport{FollowUp: fu, TimerPending: pending})
			f.sids = append(f.sids, fu.MessageSID)
		}
		x.Sessions = append(x.Sessions, se)
	}
	replies, bad, err := s.Store.ReadableReplies(ctx, clinic)
	if err != nil {
		return f, err
	}
	for _, r := range replies {
		if r.From == phone {
			x.Replies = append(x.Replies, r)
			f.sids = append(f.sids, r.MessageSID, r.AnswerSID)
		}
	}
	// A reply that cannot be decoded is the client's when its bytes name
	// the number; another client's is left to whoever can mend it.
	mine := f.matcher(clinic)
	for _, u := range bad {
		if mine(natsjs.StreamMsg{Subject: u.Key, Data: u.Data}) {
			f.badReplies = append(f.badReplies, u.Key)
		} else {
			s.skipped(clinic, natsjs.BucketReplies, u.Key)
		}
	}
	// Escalations are kept by an erasure: one that cannot be decoded is
	// only left out of the export.
	escalations, bad, err := s.Store.ReadableEscalations(ctx, clinic)
	if err != nil {
		return f, err
	}
	for _, u := range bad {
		s.skipped(clinic, natsjs.BucketEscalations, u.Key)
	}
	for _, e := range escalations {
		if e.ClientPhone == phone {
			x.Escalations = append(x.Escalations, e)
		}
	}
	conv := inbox.ConversationID(clinic, phone)
	x.Conversation = ConversationExport{ID: conv, StaffReplies: []inbox.Outbound{}, Audit: []staff.Entry{}}
	// The conversation's records are keyed by it: erased by key even when
	// they cannot be decoded.
	if x.Conversation.State, err = s.Inbox.State(ctx, clinic, conv); err != nil && !errors.Is(err, natsjs.ErrCorrupt) {
		return f, err
	}
	outs, err := s.Inbox.Outbound(ctx, clinic, conv)
	if err != nil && !errors.Is(err, natsjs.ErrCorrupt) {
		return f, err
	}
	x.Conversation.StaffReplies = append(x.Conversation.StaffReplies, outs...)
	for _, o := range outs {
		f.sids = append(f.sids, o.SID)
	}
	f.sids = slices.DeleteFunc(f.sids, func(sid string) bool { return sid == "" })
	if s.Audit != nil {
		entries, bad, err := s.Audit.ReadableHistory(ctx, clinic, "conversation", conv)
		if err != nil {
			return f, err
		}
		f.badAudit = bad
		x.Conversation.Audit = append(x.Conversation.Audit, entries...)
	}
	if x.OptOut, err = s.Store.OptOutValue(ctx, clinic, phone); err != nil {
		return f, err
	}
	match := f.deadLetters(clinic)
	err = s.Store.EachMessage(ctx, natsjs.StreamDeadLetter, "deadletter.>", func(m natsjs.StreamMsg) error {
		if match(m) {
			x.DeadLetters = append(x.DeadLetters, DeadLetter{Subject: m.Subject, Reason: m.Header.Get(natsjs.ReasonHeader), At: m.At, Data: string(m.Data)})
		}
		return nil
	})
	return f, err
}

// needles are the forms of the client's number that are not digits (those
// f.written finds): its subject token, base64 of the number with its "+".
func needles(phone string) [][]byte {
	digits := strings.TrimPrefix(phone, "+")
	var out [][]byte
	for _, t := range []string{natsjs.Token(phone), natsjs.Token(digits)} {
		if t != digits && !slices.ContainsFunc(out, func(b []byte) bool { return string(b) == t }) {
			out = append(out, []byte(t))
		}
	}
	return out
}

// matcher says whether a stream message is about the client: it names the
// number in any form, or in its subject one of the client's sessions.
func (f found) matcher(clinic string) func(natsjs.StreamMsg) bool {
	ns := needles(f.export.Phone)
	var sessionTokens []string
	for _, id := range f.sessions {
		sessionTokens = append(sessionTokens, "."+natsjs.SessionKey(clinic, id)+".")
	}
	names := func(text []byte) bool {
		return f.written.In(text) || slices.ContainsFunc(ns, func(n []byte) bool { return bytes.Contains(text, n) })
	}
	return func(m natsjs.StreamMsg) bool {
		if names(m.Data) || names([]byte(m.Subject)) {
			return true
		}
		for _, values := range m.Header {
			for _, v := range values {
				if names([]byte(v)) {
					return true
				}
			}
		}
		subject := m.Subject + "."
		return slices.ContainsFunc(sessionTokens, func(t string) bool { return strings.Contains(subject, t) })
	}
}

// deadLetters matches the client's dead letters. Their subjects name the
// clinic in different places (deadletter.followup.<clinic>.<session>.<step>,
// deadletter.record.aftercare_clients.<clinic>, ...); a job that could not
// be read names the clinic it came from (deadletter.<kind>.<clinic>.undecodable).
// Only the clinic's are the client's: the same number may be another
// clinic's client, whose dead letters are not this clinic's to export or
// erase. One that names no clinic (deadletter.<kind>.undecodable, as such
// jobs were stored before) is no one's: it expires at NATS_RETENTION.
//
// A staff reply's job names the client's conversation, not the number: a
// dead letter naming the conversation's id is the client's too.
func (f found) deadLetters(clinic string) func(natsjs.StreamMsg) bool {
	match := f.matcher(clinic)
	conv := []byte(inbox.ConversationID(clinic, f.export.Phone))
	return func(m natsjs.StreamMsg) bool {
		if natsjs.DeadLetterClinic(m.Subject) != clinic {
			return false
		}
		return match(m) || bytes.Contains(m.Data, conv) || strings.Contains(m.Subject, string(conv))
	}
}

// Export returns everything held about a client at a clinic.
func (s *Service) Export(ctx context.Context, clinic, phone string) (Export, error) {
	f, err := s.find(ctx, clinic, phone)
	if err != nil {
		return Export{}, fmt.Errorf("export client: %w", err)
	}
	return f.export, nil
}

// Result says what an erasure removed and what it kept, and why.
type Result struct {
	ClinicID string    `json:"clinic_id"`
	Client   string    `json:"client_phone"` // masked
	ErasedAt time.Time `json:"erased_at"`
	Erased   Erased    `json:"erased"`
	Kept     []Kept    `json:"kept"`
	// AtTwilio is how many of the client's texts (both ways) the worker
	// was given to delete from Twilio's logs, for a clinic that asks it.
	AtTwilio int `json:"erase_at_twilio_queued,omitempty"`
}

// Erased counts what was removed, by kind.
type Erased struct {
	ClientRecord   bool `json:"client_record"`
	Sessions       int  `json:"sessions"`
	SessionEvents  int  `json:"session_events"`
	FollowUps      int  `json:"follow_ups"`
	Replies        int  `json:"replies"`
	ReplyMessages  int  `json:"reply_messages"`
	DeliveryStatus int  `json:"delivery_statuses"`
	StaffReplies   int  `json:"staff_replies"`
	Conversation   bool `json:"conversation_state"`
	DeadLetters    int  `json:"dead_letters"`
	FailingMark    bool `json:"failing_mark"`
	// Timers and quota counters are purged by subject; they have no count.
	Timers        bool `json:"timers"`
	QuotaCounters bool `json:"quota_counters"`
	// ConsentRecord: the client's agreements and opt-ins with the wording
	// shown. A STOP stays as the opt-out (see Kept), which is what keeps
	// the number from being texted again.
	ConsentRecord bool `json:"consent_record"`
}

// Kept is a kind of record erasure leaves, with how many and why.
type Kept struct {
	What  string `json:"what"`
	Count int    `json:"count"`
	Why   string `json:"why"`
}

// Erase removes what is held about a client at a clinic, but for what must
// be kept, and returns what it did. Running it again erases nothing more.
// A failure part way leaves the rest for the next attempt: every step is
// safe to repeat.
//
// The client's records are found again after each pass and erased again,
// until a pass finds nothing more to erase: the planner may write a session
// of the client after a pass listed the client's sessions (an event it had
// begun before the tombstone went up), and that session would otherwise
// survive. A planner that writes after the last pass sees the tombstone
// when it checks again, and undoes what it wrote (planner.ApplyArrived).
func (s *Service) Erase(ctx context.Context, clinic, phone string) (Result, error) {
	var res Result
	for pass := 1; ; pass++ {
		f, err := s.find(ctx, clinic, phone)
		if err != nil {
			return Result{}, fmt.Errorf("erase client: %w", err)
		}
		if pass > 1 && !f.erasable() {
			if err := s.record(ctx, clinic, f, &res, true); err != nil {
				return Result{}, fmt.Errorf("erase client: %w", err)
			}
			return res, nil
		}
		if pass > maxPasses {
			// Left to the job's next attempt, tombstone still up.
			return Result{}, fmt.Errorf("erase client: the client's records are still being written after %d passes", maxPasses)
		}
		r, err := s.erase(ctx, clinic, f, time.Time{})
		if err != nil {
			return Result{}, fmt.Errorf("erase client: %w", err)
		}
		res = res.plus(r)
	}
}

// maxPasses bounds the passes of one erasure: each after the first erases
// only what the planner wrote while the one before ran.
const maxPasses = 5

// erasable reports whether f holds anything an erasure removes; what it
// keeps (escalations, a STOP, the audit entries) is found on every pass.
func (f found) erasable() bool {
	x := f.export
	return x.Client != nil || f.badClient || len(f.sessions) > 0 || len(x.Replies) > 0 || len(f.badReplies) > 0 ||
		x.Consent != nil || f.badConsent || x.Conversation.State != (inbox.State{}) || len(x.Conversation.StaffReplies) > 0 ||
		len(x.DeadLetters) > 0 || natsjs.IsFailingMark(x.OptOut)
}

// plus adds the counts of a later pass to r: what it keeps is the later
// pass's (a STOP may have come meanwhile).
func (r Result) plus(next Result) Result {
	if r.ClinicID == "" {
		return next
	}
	e, n := &r.Erased, next.Erased
	e.ClientRecord = e.ClientRecord || n.ClientRecord
	e.Sessions += n.Sessions
	e.SessionEvents += n.SessionEvents
	e.FollowUps += n.FollowUps
	e.Replies += n.Replies
	e.ReplyMessages += n.ReplyMessages
	e.DeliveryStatus += n.DeliveryStatus
	e.StaffReplies += n.StaffReplies
	e.Conversation = e.Conversation || n.Conversation
	e.DeadLetters += n.DeadLetters
	e.FailingMark = e.FailingMark || n.FailingMark
	e.Timers = e.Timers || n.Timers
	e.QuotaCounters = e.QuotaCounters || n.QuotaCounters
	e.ConsentRecord = e.ConsentRecord || n.ConsentRecord
	r.AtTwilio += next.AtTwilio
	r.Kept = next.Kept
	return r
}

// Expire is what retention does to a client past a clinic's retention of
// texts: Erase, but only of what is older than before, and the consent
// record stays, as README and docs/hipaa.md promise (no age limit: it is
// the evidence a TCPA dispute or 10DLC vetting asks for). A session that
// ended since, or an event the planner has not applied yet (a booking just
// taken, answered 202), is left as it is.
func (s *Service) Expire(ctx context.Context, clinic, phone string, before time.Time) (Result, error) {
	f, err := s.find(ctx, clinic, phone)
	if err != nil {
		return Result{}, fmt.Errorf("expire client: %w", err)
	}
	f.olderThan(before)
	res, err := s.erase(ctx, clinic, f, before)
	if err == nil {
		// A staff reply kept (written since) holds the conversation: its
		// audit entries stay linked to it until it goes too.
		held := slices.ContainsFunc(res.Kept, func(k Kept) bool { return k.What == keptStaffReplies })
		err = s.record(ctx, clinic, f, &res, !held)
	}
	if err != nil {
		return Result{}, fmt.Errorf("expire client: %w", err)
	}
	return res, nil
}

// olderThan keeps of f only the sessions that ended, the texts that came
// and the staff replies written before t; the Twilio ids are those of
// what is left.
func (f *found) olderThan(t time.Time) {
	x := &f.export
	newer := map[string]bool{}
	if x.Client != nil {
		for _, cs := range x.Client.Sessions {
			newer[cs.SessionID] = !cs.End.Before(t)
		}
	}
	x.Sessions = slices.DeleteFunc(x.Sessions, func(se SessionExport) bool {
		newer[se.SessionID] = newer[se.SessionID] || !se.End.Before(t)
		return !se.End.Before(t)
	})
	f.sessions = slices.DeleteFunc(f.sessions, func(id string) bool { return newer[id] })
	x.Replies = slices.DeleteFunc(x.Replies, func(r aftercare.Reply) bool { return !r.ReceivedAt.Before(t) })
	x.Conversation.StaffReplies = slices.DeleteFunc(x.Conversation.StaffReplies, func(o inbox.Outbound) bool { return !o.CreatedAt.Before(t) })
	f.sids = nil
	for _, se := range x.Sessions {
		for _, fu := range se.FollowUps {
			f.sids = append(f.sids, fu.MessageSID)
		}
	}
	for _, r := range x.Replies {
		f.sids = append(f.sids, r.MessageSID, r.AnswerSID)
	}
	for _, o := range x.Conversation.StaffReplies {
		f.sids = append(f.sids, o.SID)
	}
	f.sids = slices.DeleteFunc(f.sids, func(sid string) bool { return sid == "" })
}

// erase removes what f found. before, when set, is retention's horizon:
// only stream messages stored before it go, and the consent record stays.
func (s *Service) erase(ctx context.Context, clinic string, f found, before time.Time) (Result, error) {
	x := f.export
	res := Result{ClinicID: clinic, Client: aftercare.MaskPhone(x.Phone), ErasedAt: s.Now().UTC(), Kept: []Kept{}}
	st := s.Store
	match, matchDead := f.matcher(clinic), f.deadLetters(clinic)
	if !before.IsZero() {
		all, allDead := match, matchDead
		match = func(m natsjs.StreamMsg) bool { return m.At.Before(before) && all(m) }
		matchDead = func(m natsjs.StreamMsg) bool { return m.At.Before(before) && allDead(m) }
	}

	// Twilio's copies first: once the records are gone, their ids are too.
	if s.AtTwilio != nil && s.AtTwilio(clinic) && len(f.sids) > 0 {
		if err := st.QueueTwilioErasure(ctx, natsjs.TwilioErasure{ClinicID: clinic, SIDs: f.sids}); err != nil {
			return res, err
		}
		res.AtTwilio = len(f.sids)
	}
	// Timers next, so nothing fires for a session while it is erased.
	for _, id := range f.sessions {
		tok := natsjs.SessionKey(clinic, id)
		if err := st.PurgeSubjects(ctx, natsjs.StreamFollowUps, "followups.schedule."+tok+".>", "followups.due."+tok+".>"); err != nil {
			return res, err
		}
		res.Erased.Timers = true
		fus, err := st.Keys(ctx, natsjs.BucketFollowUps, tok+".*")
		if err != nil {
			return res, err
		}
		if err := st.EraseKeys(ctx, natsjs.BucketFollowUps, fus...); err != nil {
			return res, err
		}
		res.Erased.FollowUps += len(fus)
		if err := st.EraseKeys(ctx, natsjs.BucketSessions, tok); err != nil {
			return res, err
		}
	}
	// A job carries its client's number: one of a session that names the
	// client no longer (the number changed since) still has the old one.
	// Matched on the job's number, not its text: a short national number
	// can read as a due date's digits.
	if _, err := st.EraseMessages(ctx, natsjs.StreamFollowUps, "followups.*."+clinic+".>", func(m natsjs.StreamMsg) bool {
		job, err := aftercare.ParseDue(m.Data)
		return err == nil && job.Client != nil && job.Client.Phone == x.Phone && (before.IsZero() || m.At.Before(before))
	}); err != nil {
		return res, err
	}
	res.Erased.Sessions = len(x.Sessions)
	n, err := st.EraseMessages(ctx, natsjs.StreamSessions, "sessions."+clinic+".>", match)
	if err != nil {
		return res, err
	}
	res.Erased.SessionEvents = n

	for _, r := range x.Replies {
		if err := st.EraseKeys(ctx, natsjs.BucketReplies, natsjs.ReplyKey(clinic, r.MessageSID)); err != nil {
			return res, err
		}
	}
	if err := st.EraseKeys(ctx, natsjs.BucketReplies, f.badReplies...); err != nil {
		return res, err
	}
	res.Erased.Replies = len(x.Replies) + len(f.badReplies)
	if res.Erased.ReplyMessages, err = st.EraseMessages(ctx, natsjs.StreamReplies, "replies."+clinic, match); err != nil {
		return res, err
	}
	if res.Erased.DeliveryStatus, err = st.EraseMessages(ctx, natsjs.StreamDelivery, "delivery."+clinic, match); err != nil {
		return res, err
	}
	keptReplies := 0
	if before.IsZero() {
		res.Erased.StaffReplies, err = s.Inbox.EraseConversation(ctx, clinic, x.Conversation.ID)
	} else {
		res.Erased.StaffReplies, keptReplies, err = s.Inbox.ExpireConversation(ctx, clinic, x.Conversation.ID, before)
	}
	if err != nil {
		return res, err
	}
	res.Erased.Conversation = x.Conversation.State != (inbox.State{}) && keptReplies == 0
	if res.Erased.DeadLetters, err = st.EraseMessages(ctx, natsjs.StreamDeadLetter, "deadletter.>", matchDead); err != nil {
		return res, err
	}
	if err := st.PurgeSubjects(ctx, natsjs.StreamQuotas, "quota."+clinic+".*."+quota.RecipientToken(x.Phone)); err != nil {
		return res, err
	}
	res.Erased.QuotaCounters = true
	// Keyed by the number: erased even when there is no record now, as a
	// cleared failing mark leaves a delete marker that names the key. A
	// client's own opt-out stays (see Kept), decided on the key as it is
	// now: a STOP that came while this erasure ran is kept too.
	optedOut, markErased, err := st.EraseOptOutKey(ctx, clinic, x.Phone)
	if err != nil {
		return res, err
	}
	res.Erased.FailingMark = markErased
	keepConsent := !before.IsZero()
	if !keepConsent {
		if err := st.EraseKeys(ctx, natsjs.BucketConsent, natsjs.ConsentKey(clinic, x.Phone)); err != nil {
			return res, err
		}
		res.Erased.ConsentRecord = x.Consent != nil || f.badConsent
	}
	// The client record last: it lists the sessions, so an erasure cut
	// short finds them again when repeated.
	if err := st.EraseKeys(ctx, natsjs.BucketClients, natsjs.ClientKey(clinic, x.Phone)); err != nil {
		return res, err
	}
	res.Erased.ClientRecord = x.Client != nil || f.badClient

	if len(x.Escalations) > 0 {
		res.Kept = append(res.Kept, Kept{What: "escalations", Count: len(x.Escalations),
			Why: fmt.Sprintf("clinical records (what the client reported, who was told, who acted, their notes), kept %s after they were raised as clinical record-keeping rules require (CSP: 8 years in England); they expire on their own", years(s.EscalationRetention))})
	}
	if optedOut {
		res.Kept = append(res.Kept, Kept{What: "opt_out", Count: 1,
			Why: "the client's STOP: kept so that no new session texts them again (a suppression record, as PECR/TCPA opt-outs must be honoured); it goes when the client texts START"})
	}
	if keptReplies > 0 {
		res.Kept = append(res.Kept, Kept{What: keptStaffReplies, Count: keptReplies,
			Why: "staff replies written since the retention's cutoff (or that cannot be dated), with the conversation's state: retention takes only what is older; they go when they are"})
	}
	if keepConsent && (x.Consent != nil || f.badConsent) {
		res.Kept = append(res.Kept, Kept{What: "consent_record", Count: 1,
			Why: "the client's agreements, opt-outs and opt-ins with the wording shown: retention keeps them with no age limit, as the evidence a TCPA dispute or 10DLC vetting asks for"})
	}
	return res, nil
}

// keptStaffReplies names, in Kept, the staff replies retention leaves.
const keptStaffReplies = "staff_replies"

// record files the erasure's audit entry, once it is done, and, with
// forget, unlinks the conversation's entries from the client.
func (s *Service) record(ctx context.Context, clinic string, f found, res *Result, forget bool) error {
	x := f.export
	if s.Audit != nil {
		// The erasure's own entry, then the link: recorded first, it is
		// filed under the conversation's audit id like the rest, and a
		// repeat after a failure between the two records it again.
		why := "staff actions in the conversation (this erasure among them), in the append-only audit trail (6 years); they hold no message text, and the conversation's id in them is a random one whose link to the number is erased now"
		if !forget {
			why = "staff actions in the conversation (this expiry among them), in the append-only audit trail (6 years); they hold no message text, and stay linked to the conversation while the staff replies kept hold it"
		}
		res.Kept = append(res.Kept, Kept{What: "audit_entries", Count: len(x.Conversation.Audit) + 1, Why: why})
		if f.badAudit > 0 {
			res.Kept = append(res.Kept, Kept{What: "audit_entries_undecodable", Count: f.badAudit,
				Why: "entries filed under the conversation's audit id that cannot be decoded, passed over: the audit trail is append-only, so nothing deletes from it; the link from the number to their id is erased with the rest"})
			if s.Log != nil {
				s.Log.Warn("audit entries cannot be decoded: kept as they are", "clinic", clinic, "count", f.badAudit)
			}
		}
		by, ok := aftercare.AuthorFrom(ctx)
		if !ok {
			by = aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"}
		}
		if err := s.Audit.Record(ctx, staff.Entry{ClinicID: clinic, Author: by, Action: "erase", Kind: staff.KindConversation, Target: x.Conversation.ID, Note: res.Summary()}); err != nil {
			return err
		}
		if !forget {
			return nil
		}
		if err := s.Audit.ForgetConversation(ctx, clinic, x.Conversation.ID); err != nil {
			return err
		}
	}
	return nil
}

// years writes a retention in years when it is whole years.
func years(d time.Duration) string {
	const year = 365 * 24 * time.Hour
	if d > 0 && d%year == 0 {
		return fmt.Sprintf("%d years", d/year)
	}
	return d.String()
}

// Summary is an erasure's result in one line, for the audit entry: counts
// only, no number, no text.
func (r Result) Summary() string {
	data, _ := json.Marshal(struct {
		Erased Erased `json:"erased"`
		Kept   []string
	}{r.Erased, keptNames(r.Kept)})
	return string(data)
}

func keptNames(k []Kept) []string {
	out := []string{}
	for _, x := range k {
		out = append(out, fmt.Sprintf("%s:%d", x.What, x.Count))
	}
	return out
}
