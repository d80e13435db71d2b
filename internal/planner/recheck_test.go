package planner_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/planner"
)

// A worker sends a job that carries its session without reading the
// session, so whatever stops a session's tips must leave none of its
// records scheduled, however it interleaves with the planner writing them.
func wantNoTipLeft(t *testing.T, b bundle, session string, why string) {
	t.Helper()
	fs, err := b.env.Store.FollowUps(context.Background(), "harbour", session, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Status == aftercare.FollowUpScheduled {
			t.Errorf("%s, %s: step %d of plan %d is still scheduled; its job would be sent", session, why, f.Step, f.PlanVersion)
		}
	}
}

// wantNoPlanLeft fails t if a tip of session is still scheduled or a
// timer is still set: both would send.
func wantNoPlanLeft(t *testing.T, b bundle, session string, why string) {
	t.Helper()
	wantNoTipLeft(t, b, session, why)
	if n := b.pendingSchedules(t); n != 0 {
		t.Errorf("%s, %s: %d timers left, want none", session, why, n)
	}
}

// An escalation raised while a move of the session is being planned, after
// the session's write and before the new plan's records: its passes over
// the records find only the old plan's, so the planner, reading the session
// again, holds the new plan's.
func TestEscalationWhileAMoveIsPlannedLeavesNoTipToSend(t *testing.T) {
	t.Parallel()
	b, ctx := setupPlanned(t)
	var once sync.Once
	planner.SetBetweenWrites(b.planner, func(aftercare.Session) {
		once.Do(func() {
			if err := b.escalate(ctx); err != nil {
				t.Error(err)
			}
		})
	})
	moved := start.Add(26 * time.Hour)
	move := aftercare.SessionEvent{EventID: "e2", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindRescheduled,
		NewSessionEnd: &moved, Client: &aftercare.Client{Phone: "+447700900123"}}
	if err := b.planner.Apply(ctx, 2, move); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := b.env.Store.Session(ctx, "harbour", "s1"); rec.EscalationID == "" || rec.PlanVersion != 2 {
		t.Fatalf("session %+v, want the move's plan, escalated", rec)
	}
	wantNoPlanLeft(t, b, "s1", "escalated while its move was planned")
}

// A session's cancellation applied while its first event is being planned,
// after the session's write and before the plan's records: it finds no
// records to mark, so the first event's planner, reading the session again,
// withdraws what it wrote.
func TestCancellationWhileAPlanIsWrittenLeavesNoTipToSend(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var done atomic.Bool // the cancellation's own apply passes here too
	planner.SetBetweenWrites(b.planner, func(aftercare.Session) {
		if done.Swap(true) {
			return
		}
		cancel := aftercare.SessionEvent{EventID: "e2", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindCancelled}
		if err := b.planner.Apply(ctx, 2, cancel); err != nil {
			t.Error(err)
		}
	})
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := b.env.Store.Session(ctx, "harbour", "s1"); rec.Status != aftercare.SessionCancelled || rec.PlanVersion != 2 {
		t.Fatalf("session %+v, want the cancellation's", rec)
	}
	wantNoPlanLeft(t, b, "s1", "cancelled while its plan was written")
}

// A planner that stops after a later event's first writes: the earlier
// plan's records say withdrawn before the session says anything, so no job
// of the old plan goes (to the old number, for new client details) while
// the event waits to come again. The sessions' stream, sealed, stands in
// for the stop: the session's write fails.
func TestLaterEventReachesTheRecordsBeforeTheSession(t *testing.T) {
	t.Parallel()
	moved := start.Add(26 * time.Hour)
	for name, ev := range map[string]aftercare.SessionEvent{
		"cancelled": {Kind: aftercare.KindCancelled},
		"moved":     {Kind: aftercare.KindRescheduled, NewSessionEnd: &moved, Client: &aftercare.Client{Phone: "+447700900123"}},
		"new number": {Kind: aftercare.KindCompleted, SessionEnd: ptr(start.Add(time.Hour)),
			Client: &aftercare.Client{Phone: "+447700900999", TimeZone: "Europe/London"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			b.sealSessions(t)
			ev.EventID, ev.ClinicID, ev.SessionID = "e2", "harbour", "s1"
			if err := b.planner.Apply(ctx, 2, ev); err == nil {
				t.Fatal("the event was applied to a sealed sessions stream")
			}
			if rec, _, _ := b.env.Store.Session(ctx, "harbour", "s1"); rec.PlanVersion != 1 {
				t.Fatalf("session on plan %d, want still 1: the stop came before its write", rec.PlanVersion)
			}
			for _, f := range b.followUps(t) {
				if f.Status != aftercare.FollowUpCancelled || f.PlanVersion != 1 {
					t.Errorf("step %d: %s on plan %d, want plan 1's withdrawn", f.Step, f.Status, f.PlanVersion)
				}
			}
		})
	}
}

// An event redelivered after a later one replaced its plan, having stopped
// the first time between writing its records and reading the session
// again: it withdraws what it wrote rather than count as a duplicate only.
func TestRedeliveredReplacedEventWithdrawsItsRecords(t *testing.T) {
	t.Parallel()
	b, ctx := setupPlanned(t)
	// The later event, applied while e1's records were not yet written:
	// the session says so, and e1's records stand untouched.
	rec, rev, err := b.env.Store.Session(ctx, "harbour", "s1")
	if err != nil {
		t.Fatal(err)
	}
	rec.PlanVersion, rec.Status, rec.RecentEvents = 2, aftercare.SessionCancelled, append(rec.RecentEvents, "e2")
	if _, err := b.env.Store.SaveSession(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := b.planner.Stats.Duplicates.Load(); n != 1 {
		t.Errorf("%d duplicates counted, want the redelivery's 1", n)
	}
	wantNoPlanLeft(t, b, "s1", "replaced by a cancellation")
}

// A session removed after the planner wrote it and before its records and
// timers, which carry the client's number: the planner, reading it again,
// removes the plan. Only for a client being erased does the rest this
// event wrote go too (the client's record, consent): a session removed
// otherwise (retention, another number's erasure) takes no consent with it.
func TestSessionRemovedWhileItsPlanIsWrittenLeavesNoJob(t *testing.T) {
	t.Parallel()
	for _, erasing := range []bool{true, false} {
		t.Run(fmt.Sprint("erasing ", erasing), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			phone := "+447700900123"
			given := aftercare.ConsentEntry{Kind: aftercare.ConsentGiven, At: start, Channel: "web_form", RecordedAt: start}
			if err := b.env.Store.AddConsent(ctx, "harbour", phone, given, start); err != nil {
				t.Fatal(err)
			}
			planner.SetBetweenWrites(b.planner, func(aftercare.Session) {
				if erasing {
					if _, err := b.env.Store.SetErasing(ctx, "harbour", phone, "erase_1"); err != nil {
						t.Error(err)
					}
				}
				if err := b.env.Store.EraseKeys(ctx, natsjs.BucketSessions, natsjs.SessionKey("harbour", "s1")); err != nil {
					t.Error(err)
				}
			})
			if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			if fs := b.followUps(t); len(fs) != 0 {
				t.Errorf("%d follow-up records of a removed session, want none", len(fs))
			}
			if n := b.env.Count(t, natsjs.StreamFollowUps, "followups.*.harbour.s1.>"); n != 0 {
				t.Errorf("%d timers and jobs of a removed session, want none", n)
			}
			_, err := b.env.Store.Consent(ctx, "harbour", phone)
			if kept := err == nil; kept == erasing {
				t.Errorf("consent kept %v (%v), want kept only when the client is not being erased", kept, err)
			}
		})
	}
}

// An escalation raised while a session's first plan is written, and one of
// the plan's steps failing: the steps written are held all the same, not
// left until the event comes again.
func TestEscalationWhileAPlanFailsLeavesNoTipToSend(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	planner.SetBetweenWrites(b.planner, func(aftercare.Session) {
		if err := b.escalate(ctx); err != nil {
			t.Error(err)
		}
		// Step 2's record appears meanwhile: the plan's write of it fails.
		f := aftercare.FollowUp{ClinicID: "harbour", SessionID: "s1", Step: 2, PlanVersion: 1, DueAt: start, Status: aftercare.FollowUpSkipped, Reason: "in the way"}
		if _, err := b.env.Store.SaveFollowUp(ctx, f, 0); err != nil {
			t.Error(err)
		}
	})
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(time.Hour))); err == nil {
		t.Fatal("the plan was written over a record that came in its way")
	}
	wantNoTipLeft(t, b, "s1", "escalated while its plan failed")
}

// A hold reaches every step that has a record, beyond the count its caller
// knows: a scheduler may be configured with more steps than the worker.
func TestHoldReachesStepsBeyondTheCount(t *testing.T) {
	t.Parallel()
	b, ctx := setupPlanned(t)
	n, err := b.env.Store.CancelFollowUps(ctx, "harbour", "s1", 2, "client escalated to the clinic: esc_SM1", start)
	if err != nil || n != 3 {
		t.Errorf("cancelled %d (%v), want all 3 steps", n, err)
	}
	wantNoTipLeft(t, b, "s1", "held with a count of 2")
}

// An escalation that stops after its first writes: the hold is on the
// records before the session says so.
func TestEscalationReachesTheRecordsBeforeTheSession(t *testing.T) {
	t.Parallel()
	b, ctx := setupPlanned(t)
	b.sealSessions(t)
	if err := b.escalate(ctx); err == nil {
		t.Fatal("the hold was written to a sealed sessions stream")
	}
	if rec, _, _ := b.env.Store.Session(ctx, "harbour", "s1"); rec.EscalationID != "" {
		t.Fatalf("session held by %s, want not yet: the stop came before its write", rec.EscalationID)
	}
	wantNoTipLeft(t, b, "s1", "escalation stopped half-way")
}

// setupPlanned starts a bundle with harbour's session s1 planned, ended an
// hour after start.
func setupPlanned(t *testing.T) (bundle, context.Context) {
	t.Helper()
	b := setup(t)
	ctx := context.Background()
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	return b, ctx
}

// escalate raises an escalation on harbour's session s1, as a reply
// reporting worse pain would.
func (b bundle) escalate(ctx context.Context) error {
	raiser := &escalation.Lifecycle{Store: b.env.Store, Clinics: b.planner.Clinics, Now: b.clock.Now, Log: b.planner.Log}
	clinic, _ := b.planner.Clinics.Lookup("harbour")
	reply := aftercare.Reply{InboundSMS: aftercare.InboundSMS{MessageSID: "SM1", From: "+447700900123", ReceivedAt: start}, SessionID: "s1"}
	_, _, err := raiser.Raise(ctx, clinic, reply, "", 3)
	return err
}

// sealSessions makes the sessions' stream refuse writes, as a program
// stopped before its next write would leave it.
func (b bundle) sealSessions(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	stream, err := b.env.Conn.JS.Stream(ctx, "KV_"+natsjs.BucketSessions)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	cfg.Sealed = true
	if _, err := b.env.Conn.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}
