package planner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/planner"
)

// A Monday in winter, years ahead: the timers these tests set must not fire,
// and nats-server's scheduler runs on the real clock, not the test's.
var start = time.Date(2037, 11, 23, 12, 0, 0, 0, time.UTC)

type bundle struct {
	env     *natsjstest.Env
	clock   *natsjstest.Clock
	planner *planner.Planner
}

func setup(t *testing.T) bundle {
	t.Helper()
	env := natsjstest.Start(t)
	clock := natsjstest.NewClock(start)
	p := &planner.Planner{
		Store: env.Store, Clinics: natsjstest.Clinics(t, "* 9-19 * * *"),
		Policy: plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour, Grace: 15 * time.Minute},
		Now:    clock.Now, Log: natsjstest.Logger(), Stats: &planner.Stats{},
	}
	return bundle{env: env, clock: clock, planner: p}
}

func ptr[T any](v T) *T { return &v }

func completed(id string, end time.Time) aftercare.SessionEvent {
	return aftercare.SessionEvent{
		EventID: id, ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindCompleted, SessionEnd: &end,
		Client: &aftercare.Client{Phone: "+447700900123", TimeZone: "Europe/London"},
	}
}

// pendingSchedules counts timers waiting in the follow-up stream for s1.
func (b bundle) pendingSchedules(t *testing.T) uint64 {
	t.Helper()
	return b.env.Count(t, natsjs.StreamFollowUps, "followups.schedule.harbour.s1.*")
}

func (b bundle) followUps(t *testing.T) []aftercare.FollowUp {
	t.Helper()
	fs, err := b.env.Store.FollowUps(context.Background(), "harbour", "s1", 3)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestCompletedPlansThreeTimers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	fs := b.followUps(t)
	if len(fs) != 3 {
		t.Fatalf("%d follow-up records, want 3", len(fs))
	}
	for i, f := range fs {
		want := start.Add(-time.Hour).AddDate(0, 0, i+1) // 11:00 London, inside 9-19
		if f.Status != aftercare.FollowUpScheduled || !f.DueAt.Equal(want) || f.PlanVersion != 1 {
			t.Errorf("step %d: %+v, want scheduled at %v", f.Step, f, want)
		}
	}
	if n := b.pendingSchedules(t); n != 3 {
		t.Fatalf("%d timers pending, want 3", n)
	}
	// Applying the same delivery again (a redelivery after a crash) doubles nothing.
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := b.pendingSchedules(t); n != 3 {
		t.Fatalf("after redelivery %d timers pending, want 3", n)
	}
	// The same event id later in the stream (past the dedup window) is a duplicate.
	if err := b.planner.Apply(ctx, 7, completed("e1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if b.planner.Stats.Duplicates.Load() != 1 {
		t.Errorf("duplicates = %d, want 1", b.planner.Stats.Duplicates.Load())
	}
	if rec, _, _ := b.env.Store.Session(ctx, "harbour", "s1"); rec.PlanVersion != 1 {
		t.Errorf("duplicate changed the plan version to %d", rec.PlanVersion)
	}
}

// An event handed back after its plan's first text was tried (the planner
// died before acknowledging it) leaves that attempt's record alone: its
// "maybe sent" is what makes the retry ask Twilio before sending again.
func TestRedeliveredEventKeepsAnAttemptedStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	f, rev, err := b.env.Store.FollowUp(ctx, "harbour", "s1", 1)
	if err != nil {
		t.Fatal(err)
	}
	// A worker's send got no answer; it released the step for a retry.
	f.Attempts, f.MaybeSentSince, f.Reason = 1, f.DueAt, "last attempt: gave up waiting for Twilio"
	if _, err := b.env.Store.SaveFollowUp(ctx, f, rev); err != nil {
		t.Fatal(err)
	}
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got := b.followUps(t)[0]; got.Attempts != 1 || !got.MaybeSentSince.Equal(f.DueAt) || got.Reason != f.Reason {
		t.Errorf("step 1 after the redelivered event: %+v, want the attempt kept: %+v", got, f)
	}
}

func TestCancelRemovesEveryTimer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.planner.Apply(ctx, 1, completed("e1", start)); err != nil {
		t.Fatal(err)
	}
	cancel := aftercare.SessionEvent{EventID: "e2", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindCancelled}
	if err := b.planner.Apply(ctx, 2, cancel); err != nil {
		t.Fatal(err)
	}
	if n := b.pendingSchedules(t); n != 0 {
		t.Fatalf("%d timers left after cancel", n)
	}
	for _, f := range b.followUps(t) {
		if f.Status != aftercare.FollowUpCancelled {
			t.Errorf("step %d is %s, want cancelled", f.Step, f.Status)
		}
	}
	rec, _, _ := b.env.Store.Session(ctx, "harbour", "s1")
	if rec.Status != aftercare.SessionCancelled {
		t.Errorf("session is %s, want cancelled", rec.Status)
	}
}

func TestRescheduleReplacesThePlan(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.planner.Apply(ctx, 1, completed("e1", start)); err != nil {
		t.Fatal(err)
	}
	newEnd := start.Add(3 * 24 * time.Hour)
	moved := aftercare.SessionEvent{EventID: "e2", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindRescheduled, NewSessionEnd: &newEnd,
		Client: &aftercare.Client{Phone: "+447700900123"}}
	if err := b.planner.Apply(ctx, 2, moved); err != nil {
		t.Fatal(err)
	}
	if n := b.pendingSchedules(t); n != 3 {
		t.Fatalf("%d timers pending, want 3 (the new plan only)", n)
	}
	for i, f := range b.followUps(t) {
		if f.PlanVersion != 2 || !f.DueAt.Equal(newEnd.AddDate(0, 0, i+1)) {
			t.Errorf("step %d: version %d due %v, want version 2 due %v", f.Step, f.PlanVersion, f.DueAt, newEnd.AddDate(0, 0, i+1))
		}
	}
	// The original event arriving late (an older sequence) changes nothing.
	if err := b.planner.Apply(ctx, 1, completed("e0", start)); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := b.env.Store.Session(ctx, "harbour", "s1"); rec.PlanVersion != 2 || !rec.End.Equal(newEnd) {
		t.Errorf("late old event changed the session: %+v", rec)
	}
}

func TestStaleStepsAreSkippedAndCounted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Ended 61 hours ago: day 1 and day 2 are long past.
	if err := b.planner.Apply(context.Background(), 1, completed("e1", start.Add(-61*time.Hour))); err != nil {
		t.Fatal(err)
	}
	fs := b.followUps(t)
	if fs[0].Status != aftercare.FollowUpSkipped || fs[1].Status != aftercare.FollowUpSkipped || fs[2].Status != aftercare.FollowUpScheduled {
		t.Fatalf("statuses %s %s %s, want skipped skipped scheduled", fs[0].Status, fs[1].Status, fs[2].Status)
	}
	if fs[0].Reason == "" {
		t.Error("a skipped step must say why")
	}
	if got := b.planner.Stats.Skipped.Load(); got != 2 {
		t.Errorf("skipped counted %d, want 2", got)
	}
	if n := b.pendingSchedules(t); n != 1 {
		t.Errorf("%d timers, want 1", n)
	}
}

// A backdated session: day 1 was due 6 hours before the event arrived, so
// it is recorded as skipped, with the reason the API shows, and gets no timer.
func TestStepDueBeforeTheEventArrivedIsSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.planner.Apply(context.Background(), 1, completed("e1", start.Add(-30*time.Hour))); err != nil {
		t.Fatal(err)
	}
	fs := b.followUps(t)
	if fs[0].Status != aftercare.FollowUpSkipped || fs[0].Reason != plan.SkipBeforeEvent {
		t.Errorf("day 1: %s %q, want skipped: %q", fs[0].Status, fs[0].Reason, plan.SkipBeforeEvent)
	}
	if fs[1].Status != aftercare.FollowUpScheduled || fs[2].Status != aftercare.FollowUpScheduled {
		t.Errorf("day 2 and 3: %s, %s; want scheduled", fs[1].Status, fs[2].Status)
	}
	if n := b.pendingSchedules(t); n != 2 {
		t.Errorf("%d timers, want 2", n)
	}
}

// The plan is made as of the event's arrival, not of when the planner gets
// to it: a planner two hours behind does not skip a step that was due after
// the event arrived; it sends it now.
func TestLatePlannerPlansAsOfArrival(t *testing.T) {
	t.Parallel()
	b := setup(t)
	arrived := start
	b.clock.Advance(2 * time.Hour) // day 1 fell due an hour after arrival
	if err := b.planner.ApplyArrived(context.Background(), 1, completed("e1", arrived.Add(-23*time.Hour)), arrived); err != nil {
		t.Fatal(err)
	}
	fs := b.followUps(t)
	if fs[0].Status != aftercare.FollowUpScheduled || fs[0].DueAt.After(b.clock.Now()) {
		t.Errorf("day 1: %s due %v (%q), want scheduled now", fs[0].Status, fs[0].DueAt, fs[0].Reason)
	}
}

func TestUnknownClinicIsGivenUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ev := completed("e1", start)
	ev.ClinicID = "nobody"
	if err := b.planner.Apply(context.Background(), 1, ev); err == nil {
		t.Fatal("want an error for an unknown clinic")
	}
}

// Events of one session applied concurrently (two scheduler replicas, or a
// booking system that sends "completed" and "rescheduled" back to back) must
// leave every timer on the newest plan.
func TestConcurrentEventsConvergeOnTheNewestPlan(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const sessions = 300
	var wg sync.WaitGroup
	for i := range sessions {
		id := fmt.Sprint("c", i)
		end1 := start.Add(time.Hour)
		end2 := start.Add(26 * time.Hour)
		first := aftercare.SessionEvent{EventID: id + "-1", ClinicID: "harbour", SessionID: id, Kind: aftercare.KindCompleted, SessionEnd: &end1,
			Client: &aftercare.Client{Phone: "+447700900123"}}
		second := aftercare.SessionEvent{EventID: id + "-2", ClinicID: "harbour", SessionID: id, Kind: aftercare.KindRescheduled, NewSessionEnd: &end2,
			Client: &aftercare.Client{Phone: "+447700900123"}}
		wg.Go(func() {
			if err := retryConflicts(func() error { return b.planner.Apply(ctx, uint64(2*i+1), first) }); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := retryConflicts(func() error { return b.planner.Apply(ctx, uint64(2*i+2), second) }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	stream, err := b.env.Conn.JS.Stream(ctx, natsjs.StreamFollowUps)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sessions {
		id := fmt.Sprint("c", i)
		rec, _, err := b.env.Store.Session(ctx, "harbour", id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.PlanVersion != uint64(2*i+2) {
			t.Fatalf("%s: plan version %d, want the reschedule's %d", id, rec.PlanVersion, 2*i+2)
		}
		for step := 1; step <= 3; step++ {
			msg, err := stream.GetLastMsgForSubject(ctx, fmt.Sprintf("followups.schedule.harbour.%s.%d", id, step))
			if err != nil {
				t.Fatalf("%s step %d: no timer: %v", id, step, err)
			}
			var job aftercare.DueFollowUp
			if err := json.Unmarshal(msg.Data, &job); err != nil {
				t.Fatal(err)
			}
			f, _, err := b.env.Store.FollowUp(ctx, "harbour", id, aftercare.Step(step))
			if err != nil || f.PlanVersion != rec.PlanVersion || f.Status != aftercare.FollowUpScheduled {
				t.Errorf("%s step %d: record %+v (%v), want scheduled on plan %d", id, step, f, err, rec.PlanVersion)
			}
			if job.PlanVersion != rec.PlanVersion {
				t.Errorf("%s step %d: timer of plan %d, session on plan %d: this follow-up would never be sent", id, step, job.PlanVersion, rec.PlanVersion)
			}
		}
	}
}

// A client who escalated while their session's event was being applied (the
// session record written, its follow-ups not yet): the event, redelivered,
// writes the plan as cancelled rather than leaving no trace of it.
func TestEscalatedBeforeItsPlanWasWritten(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	end := start.Add(-time.Hour)
	ev := completed("e1", end)
	rec := aftercare.Session{ClinicID: "harbour", SessionID: "s1", PlanVersion: 1, RecentEvents: []string{"e1"},
		Status: aftercare.SessionActive, End: end, Client: *ev.Client, EscalationID: "esc_SM1", UpdatedAt: start}
	if _, err := b.env.Store.SaveSession(ctx, rec, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.planner.Apply(ctx, 1, ev); err != nil {
		t.Fatal(err)
	}
	fs := b.followUps(t)
	if len(fs) != 3 {
		t.Fatalf("%d follow-up records, want the plan's 3, cancelled", len(fs))
	}
	for _, f := range fs {
		if f.Status != aftercare.FollowUpCancelled || !strings.Contains(f.Reason, "esc_SM1") || f.PlanVersion != 1 || f.DueAt.IsZero() {
			t.Errorf("step %d: %+v, want cancelled for the escalation", f.Step, f)
		}
	}
	if n := b.pendingSchedules(t); n != 0 {
		t.Errorf("%d timers, want none", n)
	}
}

// retryConflicts retries as the consumer would redeliver a failed event.
func retryConflicts(apply func() error) error {
	var err error
	for range 20 {
		if err = apply(); err == nil || !errors.Is(err, natsjs.ErrConflict) {
			return err
		}
	}
	return err
}

// The late publish of the race above, made deterministic: an older plan's
// timer lands after the newer plan's; the older event's applier corrects it.
func TestStaleTimerIsCorrected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	newEnd := start.Add(26 * time.Hour)
	moved := aftercare.SessionEvent{EventID: "e2", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindRescheduled, NewSessionEnd: &newEnd,
		Client: &aftercare.Client{Phone: "+447700900123"}}
	if err := b.planner.Apply(ctx, 2, moved); err != nil {
		t.Fatal(err)
	}
	stale := aftercare.DueFollowUp{ClinicID: "harbour", SessionID: "s1", Step: 1, PlanVersion: 1, DueAt: start.Add(24 * time.Hour)}
	if err := b.env.Store.Schedule(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := b.planner.Apply(ctx, 1, completed("e1", start)); err != nil {
		t.Fatal(err)
	}
	stream, _ := b.env.Conn.JS.Stream(ctx, natsjs.StreamFollowUps)
	msg, err := stream.GetLastMsgForSubject(ctx, "followups.schedule.harbour.s1.1")
	if err != nil {
		t.Fatal(err)
	}
	var job aftercare.DueFollowUp
	_ = json.Unmarshal(msg.Data, &job)
	if job.PlanVersion != 2 || !job.DueAt.Equal(newEnd.AddDate(0, 0, 1)) {
		t.Fatalf("timer is %+v, want plan 2's", job)
	}
}
