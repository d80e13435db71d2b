package planner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/plan"
)

// capsOf is the frequency caps of a clinic: its own, else the service's.
func (p *Planner) capsOf(c *clinics.Clinic) plan.Caps {
	caps := p.Caps
	if c.FrequencyCap.PerDay > 0 {
		caps.PerDay = c.FrequencyCap.PerDay
	}
	if c.FrequencyCap.PerWeek > 0 {
		caps.PerWeek = c.FrequencyCap.PerWeek
	}
	return caps
}

// mergeAttempts bounds how often a merge is made again because the client's
// record changed meanwhile; past it the event is retried later.
const mergeAttempts = 20

// tipRecord is a follow-up record in a client's merged plan.
type tipRecord struct {
	f   aftercare.FollowUp
	rev uint64
}

// merge makes one plan of a client's sessions at a clinic (rec's client):
// it reads every step of their active sessions, lets plan.Caps decide which
// are sent, writes each step that changes (scheduled, or skipped with the
// cap's reason) and sets or removes its timer. Steps sent or under way count
// and are left alone; a step a cap held back comes back when a place frees
// (its displacing session cancelled or moved), if it is not yet past due.
//
// Merges of one client's sessions run one at a time in effect: each reads
// the client's record first and touches it at that revision last, and one
// that finds it changed (another session noted, or merged) is made again, on
// what the other wrote. Every write is a compare-and-set, so a worker
// claiming a step meanwhile wins, and the merge is made again around it.
func (p *Planner) merge(ctx context.Context, clinic *clinics.Clinic, rec aftercare.Session) error {
	caps := p.capsOf(clinic)
	loc := clinic.ClientLocation(rec.Client.TimeZone)
	for range mergeAttempts {
		client, crev, err := p.Store.Client(ctx, clinic.ID, rec.Client.Phone)
		if errors.Is(err, aftercare.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		now := p.Now()
		tips, recs, err := p.clientTips(ctx, clinic.ID, rec.SessionID, client, now)
		if err != nil {
			return err
		}
		skips := caps.Merge(tips, loc)
		conflict := false
		for i, tr := range recs {
			if tips[i].Fixed {
				continue
			}
			f := tr.f
			status, reason := aftercare.FollowUpScheduled, ""
			if skips[i] != "" {
				status, reason = aftercare.FollowUpSkipped, skips[i]
			}
			rev := tr.rev
			// A scheduled step keeps its reason (a retry's last error).
			if f.Status != status || (status == aftercare.FollowUpSkipped && f.Reason != reason) {
				f.Status, f.Reason, f.UpdatedAt = status, reason, now
				rev, err = p.Store.SaveFollowUp(ctx, f, tr.rev)
				if errors.Is(err, natsjs.ErrConflict) {
					conflict = true
					break
				}
				if err != nil {
					return err
				}
				p.noteMerged(f)
			} else if f.SessionID != rec.SessionID {
				continue // unchanged, and its timer was set by its own session's merge
			} else if status == aftercare.FollowUpScheduled {
				p.noteMerged(f) // planned just now, its timer not yet set
			}
			var sess *aftercare.Session
			if f.SessionID == rec.SessionID {
				sess = &rec
			}
			if err := p.settle(ctx, f, rev, sess); err != nil {
				return err
			}
		}
		if conflict {
			continue
		}
		err = p.Store.TouchClient(ctx, client, crev, now)
		if errors.Is(err, natsjs.ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("merge client plan at clinic %s: the client's record kept changing", clinic.ID)
}

// clientTips reads the steps of a client's active sessions that a merge
// counts or decides. planning is the session whose event is being applied:
// its scheduled steps have no timer yet, however close their time.
func (p *Planner) clientTips(ctx context.Context, clinic, planning string, client aftercare.ClientRecord, now time.Time) ([]plan.Tip, []tipRecord, error) {
	var tips []plan.Tip
	var recs []tipRecord
	for _, cs := range client.Sessions {
		if cs.Cancelled {
			continue
		}
		sess, _, err := p.Store.Session(ctx, clinic, cs.SessionID)
		if errors.Is(err, aftercare.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if sess.Status != aftercare.SessionActive || sess.EscalationID != "" {
			continue
		}
		for step := 1; step <= len(p.Policy.Offsets); step++ {
			f, rev, err := p.Store.FollowUp(ctx, clinic, sess.SessionID, aftercare.Step(step))
			if errors.Is(err, aftercare.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			if f.PlanVersion != sess.PlanVersion {
				continue // its session is being planned again; that merge decides it
			}
			tip := plan.Tip{Session: sess.SessionID, SessionEnd: sess.End, Step: f.Step, DueAt: f.DueAt}
			switch {
			case f.Status == aftercare.FollowUpSent || f.Status == aftercare.FollowUpSending:
				tip.Fixed = true
			case f.Status == aftercare.FollowUpScheduled && f.DueAt.Before(now) && sess.SessionID != planning:
				tip.Fixed = true // its job has fired: a worker has it
			case f.Status == aftercare.FollowUpScheduled:
			case f.Status == aftercare.FollowUpSkipped && plan.IsCapSkip(f.Reason) && !f.DueAt.Before(now):
			default:
				continue // cancelled, dead, or skipped for another reason
			}
			tips = append(tips, tip)
			recs = append(recs, tipRecord{f: f, rev: rev})
		}
	}
	return tips, recs, nil
}

// noteMerged counts and logs a step as the merge left it.
func (p *Planner) noteMerged(f aftercare.FollowUp) {
	if f.Status == aftercare.FollowUpSkipped {
		p.Stats.Capped.Add(1)
		p.Log.Info("follow-up held back by a frequency cap", "clinic", f.ClinicID, "session", f.SessionID, "step", f.Step, "reason", f.Reason)
		return
	}
	p.Stats.Planned.Add(1)
	p.Log.Info("follow-up scheduled", "clinic", f.ClinicID, "session", f.SessionID, "step", f.Step, "due_at", f.DueAt)
}
