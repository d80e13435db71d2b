// Package planner turns stored session events into follow-up plans: it
// records the session, writes a record per follow-up step, and sets each
// step's durable timer in JetStream; cancellations and reschedules remove them.
package planner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/plan"
)

// Stats counts what the planner did since start.
type Stats struct {
	Planned    atomic.Int64 // follow-ups given a timer
	Skipped    atomic.Int64 // follow-ups skipped: due before their event arrived, or stale
	Cancelled  atomic.Int64 // follow-ups cancelled
	Capped     atomic.Int64 // follow-ups held back by a frequency cap
	Duplicates atomic.Int64 // events seen before
}

// Planner applies session events.
type Planner struct {
	Store   *natsjs.Store
	Clinics *clinics.Directory
	Policy  plan.Policy
	Now     func() time.Time
	Log     *slog.Logger
	Stats   *Stats
	// Caps bound the tips one client gets across sessions (a clinic's
	// frequency_cap overrides them); zero: every session is planned alone.
	Caps plan.Caps
	// Confirmations queue the text of a client's first session, for
	// clinics with confirm_first_text; nil sends none.
	Confirmations Confirmer

	// betweenWrites, set by tests, runs once an event's session record is
	// written and before its plan's records are: where another writer of
	// the session can come between.
	betweenWrites func(aftercare.Session)
}

// Confirmer queues the confirmation text of a client's first session, to
// be sent as the clinic's other texts are.
type Confirmer interface {
	Confirm(ctx context.Context, clinic *clinics.Clinic, client aftercare.Client, now time.Time) error
}

// recentEventsKept bounds the event ids remembered per session.
const recentEventsKept = 32

// Handle is the jobs.Handler for the session-event consumer.
func (p *Planner) Handle(ctx context.Context, msg jetstream.Msg) error {
	meta, err := msg.Metadata()
	if err != nil {
		return jobs.GiveUp(fmt.Errorf("read message metadata: %w", err))
	}
	var ev aftercare.SessionEvent
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		return jobs.GiveUp(fmt.Errorf("decode session event: %w", err))
	}
	// The subject names the clinic: NATS permissions let a booking system
	// publish only under its own clinic's subjects, so a body naming another
	// clinic is refused rather than believed.
	clinic := strings.Split(msg.Subject(), ".")[1]
	if ev.ClinicID != "" && ev.ClinicID != clinic {
		return jobs.GiveUp(fmt.Errorf("event %s published under clinic %q names clinic %q", ev.EventID, clinic, ev.ClinicID))
	}
	ev.ClinicID = clinic
	return p.ApplyArrived(ctx, meta.Sequence.Stream, ev, meta.Timestamp)
}

// Apply is ApplyArrived for an event arriving now.
func (p *Planner) Apply(ctx context.Context, seq uint64, ev aftercare.SessionEvent) error {
	return p.ApplyArrived(ctx, seq, ev, p.Now())
}

// ApplyArrived brings the records and timers of ev's session in line with
// ev, which JetStream stored at arrived. seq orders events (the stream
// sequence); an older event than the one that made the current plan changes
// nothing. Every step is idempotent, so a redelivered event that was
// half-applied before a crash is completed, not doubled. The plan is made as
// of arrived, not of when the planner gets to it, so a step due before the
// event arrived is skipped (and one due after it is not, however late the
// planner is), and a redelivery makes the same plan.
func (p *Planner) ApplyArrived(ctx context.Context, seq uint64, ev aftercare.SessionEvent, arrived time.Time) error {
	clinic, ok := p.Clinics.Lookup(ev.ClinicID)
	if !ok {
		return jobs.GiveUp(fmt.Errorf("event %s: unknown clinic %q", ev.EventID, ev.ClinicID))
	}
	now := p.Now()
	if arrived.IsZero() || arrived.After(now) {
		arrived = now // clocks of nats-server and this process differ a little
	}
	if err := ev.Validate(now, clinic.Checks()); err != nil && !p.tooOld(err) {
		return jobs.GiveUp(fmt.Errorf("event %s: %w", ev.EventID, err))
	}
	if ev.Client == nil {
		return p.apply(ctx, clinic, seq, ev, now, arrived)
	}
	// ev.Client.Phone is in E.164 now (Validate read it with the clinic's
	// phone rules), as the tombstone's key is.
	// Taken in before the client's erasure began, planned while it runs: it
	// would make again what the erasure removes.
	if dropped, err := p.droppedForErasure(ctx, clinic.ID, seq, ev, false); dropped || err != nil {
		return err
	}
	err := p.apply(ctx, clinic, seq, ev, now, arrived)
	// Checked again once written: an erasure whose pass listed the client's
	// sessions before this one was written would not see it, so what was
	// written is undone while the tombstone stands (even after a failure:
	// a redelivery would be dropped, leaving it).
	if dropped, undoErr := p.droppedForErasure(ctx, clinic.ID, seq, ev, true); dropped || undoErr != nil {
		return undoErr
	}
	return err
}

// droppedForErasure reports whether ev's client is being erased, and then
// erases the event and, when written, what the planner wrote of it.
func (p *Planner) droppedForErasure(ctx context.Context, clinic string, seq uint64, ev aftercare.SessionEvent, written bool) (bool, error) {
	job, err := p.Store.Erasing(ctx, clinic, ev.Client.Phone)
	if err != nil || job == "" {
		return false, err
	}
	if err := p.Store.EraseClientSession(ctx, clinic, ev.SessionID, ev.Client.Phone, seq, ev.EventID, written); err != nil {
		return true, fmt.Errorf("event %s: undo for erasure %s: %w", ev.EventID, job, err)
	}
	p.Log.Info("session event dropped: the client is being erased", "clinic", clinic, "event", ev.EventID, "session", ev.SessionID, "job", job, "undone", written)
	return true, nil
}

// apply is ApplyArrived once the event is valid and its client not being
// erased.
func (p *Planner) apply(ctx context.Context, clinic *clinics.Clinic, seq uint64, ev aftercare.SessionEvent, now, arrived time.Time) error {
	if ev.Consent != nil && ev.Client != nil {
		// Before the plan, so a follow-up of a clinic that requires consent
		// finds it; kept even from an event a later one overrides: it is
		// evidence of what the client agreed to.
		if err := p.Store.AddConsent(ctx, clinic.ID, ev.Client.Phone, ev.Consent.Entry(ev.SessionID, now), now); err != nil {
			return err
		}
	}
	for {
		rec, rev, err := p.Store.Session(ctx, clinic.ID, ev.SessionID)
		if err != nil && !errors.Is(err, aftercare.ErrNotFound) {
			return err
		}
		seen := slices.Contains(rec.RecentEvents, ev.EventID)
		if seen && rec.PlanVersion != seq {
			p.Stats.Duplicates.Add(1)
			// A later event's plan has replaced this one's. Had this event
			// stopped after writing its records and before reading the
			// session again (recheck), they would still stand.
			return p.withdrawPlan(ctx, rec, seq, now)
		}
		if rec.PlanVersion > seq {
			// A later event already decided the plan; remember this one, and
			// make sure no timer of it displaced the later plan's.
			rec.RecentEvents = remember(rec.RecentEvents, ev.EventID)
			if _, err = p.Store.SaveSession(ctx, rec, rev); errors.Is(err, natsjs.ErrConflict) {
				continue
			} else if err != nil {
				return err
			}
			return p.settleTimers(ctx, clinic.ID, rec.SessionID)
		}
		// A session with no record until now has no follow-up records either
		// (they are written after it), so its plan skips reading them.
		fresh := rev == 0 && !seen
		if !seen {
			rec = p.nextRecord(rec, clinic, seq, ev, now)
			if rev != 0 {
				// The earlier plans' records first: a worker sends a job that
				// carries its session without reading the session, so a
				// planner stopped between the writes, or failing on one step,
				// would leave a cancelled or moved session's old jobs (and
				// their client's old number) to be sent until the event came
				// again.
				reason := "replaced by a later event of the session"
				if rec.Status == aftercare.SessionCancelled {
					reason = "session cancelled"
				}
				if err := p.withdraw(ctx, rec, reason, now, rec.Status == aftercare.SessionCancelled, func(plan uint64) bool { return plan < seq }); err != nil {
					return err
				}
			}
			if _, err = p.Store.SaveSession(ctx, rec, rev); errors.Is(err, natsjs.ErrConflict) {
				continue
			} else if err != nil {
				return err
			}
		}
		if p.betweenWrites != nil {
			p.betweenWrites(rec)
		}
		// The client's list of sessions is noted while the plan is made: the
		// merge, which reads it, comes after both.
		var noted jobs.Group
		var noteErr error
		noted.Go(func() { noteErr = p.noteClient(ctx, rec, now) })
		err = p.confirm(ctx, clinic, rec, now)
		switch {
		case err != nil:
		case rec.Status == aftercare.SessionCancelled:
			err = p.cancel(ctx, rec, "session cancelled")
		case rec.EscalationID != "":
			// The clinic has taken over; a moved session gets no tips either.
			err = p.cancelPlan(ctx, clinic, rec, now, arrived, "client escalated to the clinic: "+rec.EscalationID)
		default:
			err = p.schedule(ctx, clinic, rec, now, arrived, fresh)
		}
		noted.Wait()
		if err == nil {
			err = noteErr
		}
		if err == nil && p.capsOf(clinic).On() && rec.Client.Phone != "" {
			// One plan per client: this session's steps, and the other
			// sessions' it displaces or gives back, are settled together.
			err = p.merge(ctx, clinic, rec)
		}
		if rec.Status != aftercare.SessionActive || rec.EscalationID != "" {
			return err
		}
		// Even after a failure: some steps' records and timers may stand,
		// and the event may not come again before they fall due.
		return errors.Join(err, p.recheck(ctx, rec, ev.EventID, now))
	}
}

// recheck reads the session again once its plan's records and timers are
// written. A worker sends a job that carries its session
// (aftercare.DueWithSession) without reading the session: it trusts that
// whatever stops a text changes the follow-up's record, which its claim is
// conditional on. What changed the session while this plan was written may
// have gone through the records before these were there: an escalation's
// hold, or a later event's cancellation. It reaches them now.
func (p *Planner) recheck(ctx context.Context, rec aftercare.Session, eventID string, now time.Time) error {
	cur, _, err := p.Store.Session(ctx, rec.ClinicID, rec.SessionID)
	switch {
	case errors.Is(err, aftercare.ErrNotFound):
		// Removed after this event wrote it (an erasure, or retention),
		// perhaps before its records and timers, which carry the client's
		// number. For a client being erased, all this event wrote goes, as
		// for an event of such a client; otherwise the plan.
		job, err := p.Store.Erasing(ctx, rec.ClinicID, rec.Client.Phone)
		switch {
		case err != nil:
			return err
		case job != "":
			return p.Store.EraseClientSession(ctx, rec.ClinicID, rec.SessionID, rec.Client.Phone, rec.PlanVersion, eventID, true)
		}
		return p.Store.ErasePlan(ctx, rec.ClinicID, rec.SessionID)
	case err != nil:
		return err
	case cur.PlanVersion != rec.PlanVersion:
		// A later event came while these records were written; its own
		// passes over the records (a cancellation's) may have missed them.
		return p.withdrawPlan(ctx, rec, rec.PlanVersion, now)
	case cur.EscalationID != "":
		return p.cancel(ctx, cur, "client escalated to the clinic: "+cur.EscalationID)
	}
	return nil
}

// withdrawPlan withdraws the records of plan version plan, which a later
// event's has replaced, and sets the session's timers to match its records.
func (p *Planner) withdrawPlan(ctx context.Context, rec aftercare.Session, plan uint64, now time.Time) error {
	if err := p.withdraw(ctx, rec, "replaced by a later event of the session", now, false, func(v uint64) bool { return v == plan }); err != nil {
		return err
	}
	return p.settleTimers(ctx, rec.ClinicID, rec.SessionID)
}

// withdraw marks cancelled, with reason, each unfinished follow-up record of
// rec's session whose plan version ofPlan picks: of the policy's steps, and
// of any later step that has a record (a plan made with more steps).
// count says they count as cancelled: a cancellation's do, a replaced
// plan's do not (the new plan writes those steps again).
func (p *Planner) withdraw(ctx context.Context, rec aftercare.Session, reason string, now time.Time, count bool, ofPlan func(uint64) bool) error {
	for step, found := 1, true; step <= len(p.Policy.Offsets) || found; step++ {
		found = true
		var marked bool
		err := p.Store.UpdateFollowUp(ctx, rec.ClinicID, rec.SessionID, aftercare.Step(step), func(f *aftercare.FollowUp) bool {
			marked = !f.Status.Final() && ofPlan(f.PlanVersion)
			if marked {
				f.Status, f.Reason, f.UpdatedAt = aftercare.FollowUpCancelled, reason, now
			}
			return marked
		})
		switch {
		case errors.Is(err, aftercare.ErrNotFound):
			found = false
		case err != nil:
			return err
		case marked && count:
			p.Stats.Cancelled.Add(1)
		}
	}
	return nil
}

// noteClient keeps the client's list of sessions current, so that a reply
// is linked to their most recent session in follow-up.
func (p *Planner) noteClient(ctx context.Context, rec aftercare.Session, now time.Time) error {
	if rec.Client.Phone == "" {
		return nil
	}
	cs := aftercare.ClientSession{SessionID: rec.SessionID, End: rec.End, Cancelled: rec.Status == aftercare.SessionCancelled}
	return p.Store.NoteClientSession(ctx, rec.ClinicID, rec.Client.Phone, cs, now)
}

// confirm queues the confirmation text of the client's first session at a
// clinic that asks for one: once per client (the consent record remembers
// it, with no age limit), and, where the clinic requires consent, only to a
// client who gave it. Queued, then marked: a crash between the two queues
// it again under the same id, which is sent once.
func (p *Planner) confirm(ctx context.Context, clinic *clinics.Clinic, rec aftercare.Session, now time.Time) error {
	if !clinic.ConfirmFirstText || p.Confirmations == nil || rec.Status != aftercare.SessionActive || rec.Client.Phone == "" {
		return nil
	}
	consent, err := p.Store.Consent(ctx, clinic.ID, rec.Client.Phone)
	if err != nil && !errors.Is(err, aftercare.ErrNotFound) {
		return err
	}
	if !consent.ConfirmationAt.IsZero() || clinic.RequireConsent && !consent.Consented() {
		return nil
	}
	if err := p.Confirmations.Confirm(ctx, clinic, rec.Client, now); err != nil {
		return err
	}
	_, err = p.Store.MarkConfirmation(ctx, clinic.ID, rec.Client.Phone, now)
	return err
}

// tooOld lets a stored event whose session end has since aged past the
// validation limit still be applied: it was valid when accepted.
func (p *Planner) tooOld(err error) bool {
	var v *aftercare.ValidationError
	if !errors.As(err, &v) {
		return false
	}
	for _, pr := range v.Problems {
		if pr.Field != "session_end" && pr.Field != "new_session_end" {
			return false
		}
	}
	return true
}

func (p *Planner) nextRecord(rec aftercare.Session, clinic *clinics.Clinic, seq uint64, ev aftercare.SessionEvent, now time.Time) aftercare.Session {
	rec.ClinicID = clinic.ID
	rec.SessionID = ev.SessionID
	rec.PlanVersion = seq
	rec.RecentEvents = remember(rec.RecentEvents, ev.EventID)
	rec.UpdatedAt = now
	if ev.Client != nil {
		rec.Client = *ev.Client
	}
	if ev.Service != "" {
		rec.Service = ev.Service // a move or cancellation need not repeat it
	}
	if end, ok := ev.PlanEnd(); ok {
		rec.Status = aftercare.SessionActive
		rec.End = end
	} else {
		rec.Status = aftercare.SessionCancelled
	}
	return rec
}

func remember(ids []string, id string) []string {
	ids = append(ids, id)
	if len(ids) > recentEventsKept {
		ids = ids[len(ids)-recentEventsKept:]
	}
	return ids
}

// schedule writes the follow-up records of the current plan and sets their
// timers. A new timer replaces an earlier plan's timer for the same step; a
// job of an earlier plan that has already fired carries the old plan version
// and is dropped by the worker.
func (p *Planner) schedule(ctx context.Context, clinic *clinics.Clinic, rec aftercare.Session, now, arrived time.Time, fresh bool) error {
	loc := clinic.ClientLocation(rec.Client.TimeZone)
	// With caps, the merge of the client's sessions sets the timers, once it
	// has decided which steps are sent: none is set that it then holds back.
	merged := p.capsOf(clinic).On() && rec.Client.Phone != ""
	// The steps are independent records and timers: planned at once, each
	// step's three round trips overlap the others' instead of following them.
	steps := p.Policy.Plan(rec.End, arrived, loc, clinic.Window)
	errs := make([]error, len(steps))
	var g jobs.Group
	for i, step := range steps {
		g.Go(func() { errs[i] = p.scheduleStep(ctx, clinic, rec, step, now, fresh, merged) })
	}
	g.Wait()
	return errors.Join(errs...)
}

// scheduleStep writes one step's record of the current plan and, unless
// the merge of a client's plan is to decide it, sets its timer.
func (p *Planner) scheduleStep(ctx context.Context, clinic *clinics.Clinic, rec aftercare.Session, step plan.Step, now time.Time, fresh, merged bool) error {
	var existing aftercare.FollowUp
	var frev uint64
	if !fresh {
		var err error
		existing, frev, err = p.Store.FollowUp(ctx, clinic.ID, rec.SessionID, step.Step)
		if err != nil && !errors.Is(err, aftercare.ErrNotFound) {
			return err
		}
	}
	if existing.PlanVersion > rec.PlanVersion {
		return nil // a newer event is being applied concurrently; it owns the plan
	}
	if frev != 0 && existing.PlanVersion == rec.PlanVersion && !existing.Untouched() {
		// This plan's step already moved on (sent, skipped ...), or a worker
		// has tried it and holds its retry: written again, the attempt's
		// "maybe sent" would be lost, and with it the look-up at Twilio
		// that keeps the retry from texting twice.
		return nil
	}
	f := aftercare.FollowUp{
		ClinicID: clinic.ID, SessionID: rec.SessionID, Step: step.Step,
		PlanVersion: rec.PlanVersion, DueAt: step.DueAt, UpdatedAt: now,
		Status: aftercare.FollowUpScheduled,
	}
	if step.Skip != "" {
		f.Status, f.Reason = aftercare.FollowUpSkipped, step.Skip
	}
	saved, err := p.Store.SaveFollowUp(ctx, f, frev)
	if err != nil {
		return err // a conflict (with fresh: a record after all) is retried with the whole event
	}
	if !merged || step.Skip != "" {
		if err := p.settle(ctx, f, saved, &rec); err != nil {
			return err
		}
	}
	if step.Skip != "" {
		p.Stats.Skipped.Add(1)
		p.Log.Info("follow-up skipped", "clinic", clinic.ID, "session", rec.SessionID, "step", step.Step, "reason", step.Skip)
		return nil
	}
	if merged {
		return nil // merge logs and counts it
	}
	p.Stats.Planned.Add(1)
	p.Log.Info("follow-up scheduled", "clinic", clinic.ID, "session", rec.SessionID, "step", step.Step, "due_at", step.DueAt)
	return nil
}

// settleTimer makes a step's timer match its record: set for a scheduled
// step, removed for a skipped or cancelled one. It repeats until the record
// did not change meanwhile, so when two events of a session are applied at
// once, the slower one cannot leave its timer in place of the newer plan's:
// whoever publishes last checks the record afterwards and corrects it.
func (p *Planner) settleTimer(ctx context.Context, clinic, session string, step aftercare.Step) error {
	f, rev, err := p.Store.FollowUp(ctx, clinic, session, step)
	if errors.Is(err, aftercare.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return p.settle(ctx, f, rev, nil)
}

// settle is settleTimer from a record already in hand at revision rev. With
// sess, the record's session as just written, a job set carries what its
// send needs from it (aftercare.DueWithSession).
func (p *Planner) settle(ctx context.Context, f aftercare.FollowUp, rev uint64, sess *aftercare.Session) error {
	clinic, session, step := f.ClinicID, f.SessionID, f.Step
	for {
		var err error
		switch f.Status {
		case aftercare.FollowUpScheduled:
			err = p.Store.Schedule(ctx, aftercare.DueWithSession(f, rev, sess))
		case aftercare.FollowUpSkipped, aftercare.FollowUpCancelled:
			err = p.Store.CancelSchedules(ctx, clinic, session, step)
		}
		if err != nil {
			return err
		}
		var after uint64
		f, after, err = p.Store.FollowUp(ctx, clinic, session, step)
		if errors.Is(err, aftercare.ErrNotFound) {
			return nil
		}
		if err != nil || after == rev {
			return err
		}
		rev = after
	}
}

func (p *Planner) settleTimers(ctx context.Context, clinic, session string) error {
	for step := 1; step <= len(p.Policy.Offsets); step++ {
		if err := p.settleTimer(ctx, clinic, session, aftercare.Step(step)); err != nil {
			return err
		}
	}
	return nil
}

// cancelPlan is cancel for a session that still has a plan (its client
// escalated): steps with no record yet, because the client's text came while
// this event was being applied (or before a crash let it finish), are
// written as cancelled, so the session shows its whole plan and why no tip
// went.
func (p *Planner) cancelPlan(ctx context.Context, clinic *clinics.Clinic, rec aftercare.Session, now, arrived time.Time, reason string) error {
	loc := clinic.ClientLocation(rec.Client.TimeZone)
	for _, step := range p.Policy.Plan(rec.End, arrived, loc, clinic.Window) {
		f := aftercare.FollowUp{
			ClinicID: clinic.ID, SessionID: rec.SessionID, Step: step.Step, PlanVersion: rec.PlanVersion,
			DueAt: step.DueAt, Status: aftercare.FollowUpCancelled, Reason: reason, UpdatedAt: now,
		}
		_, err := p.Store.SaveFollowUp(ctx, f, 0)
		switch {
		case err == nil:
			p.Stats.Cancelled.Add(1)
		case !errors.Is(err, natsjs.ErrConflict): // a conflict: it has a record, which cancel deals with
			return err
		}
	}
	return p.cancel(ctx, rec, reason)
}

// cancel removes the timers and marks every unfinished follow-up cancelled.
func (p *Planner) cancel(ctx context.Context, rec aftercare.Session, reason string) error {
	n, err := p.Store.CancelFollowUps(ctx, rec.ClinicID, rec.SessionID, len(p.Policy.Offsets), reason, p.Now())
	p.Stats.Cancelled.Add(int64(n))
	if err != nil {
		return err
	}
	p.Log.Info("follow-ups cancelled", "clinic", rec.ClinicID, "session", rec.SessionID, "reason", reason)
	return nil
}
