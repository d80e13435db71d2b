package planner_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/plan"
)

func sessionOf(id, session string, end time.Time) aftercare.SessionEvent {
	ev := completed(id, end)
	ev.SessionID = session
	return ev
}

func (b bundle) steps(t *testing.T, session string) []aftercare.FollowUp {
	t.Helper()
	fs, err := b.env.Store.FollowUps(context.Background(), "harbour", session, 3)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func (b bundle) timers(t *testing.T, session string) uint64 {
	t.Helper()
	return b.env.Count(t, natsjs.StreamFollowUps, "followups.schedule.harbour."+session+".*")
}

// wantSteps checks each step's status, and that a skipped one says which cap.
func wantSteps(t *testing.T, session string, fs []aftercare.FollowUp, want ...string) {
	t.Helper()
	if len(fs) != len(want) {
		t.Fatalf("%s: %d steps, want %d", session, len(fs), len(want))
	}
	for i, f := range fs {
		switch w := want[i]; w {
		case "scheduled", "cancelled":
			if string(f.Status) != w {
				t.Errorf("%s day %d: %s (%s), want %s", session, f.Step, f.Status, f.Reason, w)
			}
		default:
			if f.Status != aftercare.FollowUpSkipped || !plan.IsCapSkip(f.Reason) || !strings.Contains(f.Reason, w) {
				t.Errorf("%s day %d: %s (%s), want skipped by the cap %q", session, f.Step, f.Status, f.Reason, w)
			}
		}
	}
}

// A client seen Monday and Tuesday: one plan, a tip a day and three a week;
// when Tuesday's session is cancelled, Monday's tips come back.
func TestSessionsOfOneClientMerge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.planner.Caps = plan.Caps{PerDay: 1, PerWeek: 3}
	ctx := context.Background()
	monday := start.Add(-time.Hour) // 11:00
	if err := b.planner.Apply(ctx, 1, sessionOf("e1", "mon", monday)); err != nil {
		t.Fatal(err)
	}
	wantSteps(t, "mon", b.steps(t, "mon"), "scheduled", "scheduled", "scheduled")
	if n := b.timers(t, "mon"); n != 3 {
		t.Fatalf("monday alone: %d timers, want 3", n)
	}

	b.clock.Advance(24*time.Hour + 30*time.Minute) // Tuesday 12:30: Monday's day 1 is out
	if err := b.planner.Apply(ctx, 2, sessionOf("e2", "tue", monday.AddDate(0, 0, 1))); err != nil {
		t.Fatal(err)
	}
	// Wednesday and Thursday are Tuesday's session's; Friday's would be a
	// fourth text in a week.
	wantSteps(t, "mon", b.steps(t, "mon"), "scheduled", "session tue's day 1 tip is sent on 2037-11-25", "session tue's day 2 tip is sent on 2037-11-26")
	wantSteps(t, "tue", b.steps(t, "tue"), "scheduled", "scheduled", "at most 3 a week")
	if m, tu := b.timers(t, "mon"), b.timers(t, "tue"); m != 1 || tu != 2 {
		t.Errorf("timers: monday %d, tuesday %d; want 1 (day 1, fired) and 2", m, tu)
	}
	if n := b.planner.Stats.Capped.Load(); n != 3 {
		t.Errorf("%d held back, want 3", n)
	}

	// A repeat of the event changes nothing.
	if err := b.planner.Apply(ctx, 2, sessionOf("e2", "tue", monday.AddDate(0, 0, 1))); err != nil {
		t.Fatal(err)
	}
	wantSteps(t, "tue", b.steps(t, "tue"), "scheduled", "scheduled", "at most 3 a week")

	// Tuesday's cancelled: its part of the plan goes, Monday's comes back.
	cancel := aftercare.SessionEvent{EventID: "e3", ClinicID: "harbour", SessionID: "tue", Kind: aftercare.KindCancelled}
	if err := b.planner.Apply(ctx, 3, cancel); err != nil {
		t.Fatal(err)
	}
	wantSteps(t, "tue", b.steps(t, "tue"), "cancelled", "cancelled", "at most 3 a week")
	wantSteps(t, "mon", b.steps(t, "mon"), "scheduled", "scheduled", "scheduled")
	if m, tu := b.timers(t, "mon"), b.timers(t, "tue"); m != 3 || tu != 0 {
		t.Errorf("after the cancellation, timers: monday %d, tuesday %d; want 3 and 0", m, tu)
	}
}

// Moving the newer session away gives the older one its days back, and the
// moved session is capped on the days it now falls on.
func TestRescheduledSessionRemerges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.planner.Caps = plan.Caps{PerDay: 1, PerWeek: 3}
	ctx := context.Background()
	monday := start.Add(-time.Hour)
	for i, ev := range []aftercare.SessionEvent{sessionOf("e1", "a", monday), sessionOf("e2", "b", monday.Add(30*time.Minute))} {
		if err := b.planner.Apply(ctx, uint64(i+1), ev); err != nil {
			t.Fatal(err)
		}
	}
	wantSteps(t, "a", b.steps(t, "a"), "sent on 2037-11-24", "sent on 2037-11-25", "sent on 2037-11-26")
	wantSteps(t, "b", b.steps(t, "b"), "scheduled", "scheduled", "scheduled")

	// b moves to Saturday: a has its three days again. b's Sunday and
	// Monday would be a fourth text within 7 days of a's; its Tuesday is not.
	moved := monday.AddDate(0, 0, 5)
	ev := aftercare.SessionEvent{EventID: "e3", ClinicID: "harbour", SessionID: "b", Kind: aftercare.KindRescheduled,
		SessionEnd: ptr(monday.Add(30 * time.Minute)), NewSessionEnd: &moved, Client: &aftercare.Client{Phone: "+447700900123", TimeZone: "Europe/London"}}
	if err := b.planner.Apply(ctx, 3, ev); err != nil {
		t.Fatal(err)
	}
	wantSteps(t, "a", b.steps(t, "a"), "scheduled", "scheduled", "scheduled")
	wantSteps(t, "b", b.steps(t, "b"), "3 a week to one client (2037-11-29)", "3 a week to one client (2037-11-30)", "scheduled")
	if n := b.timers(t, "b"); n != 1 {
		t.Errorf("b has %d timers, want 1", n)
	}
}

// Sessions of one client applied at once (the planner runs events
// concurrently) end in the same plan as applied one by one: merges of one
// client take turns through the client's record, and every timer matches its
// record.
func TestConcurrentSessionsOfOneClientMergeOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.planner.Caps = plan.Caps{PerDay: 1, PerWeek: 3}
	ctx := context.Background()
	ids := []string{"s1", "s2", "s3", "s4"}
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Sessions ending an hour apart, up to the clock's now.
			errs <- b.planner.Apply(ctx, uint64(i+1), sessionOf("e-"+id, id, start.Add(-time.Duration(4-i)*time.Hour)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The newest session, s4, takes every day; the others are held back.
	wantSteps(t, "s4", b.steps(t, "s4"), "scheduled", "scheduled", "scheduled")
	for _, id := range ids[:3] {
		wantSteps(t, id, b.steps(t, id), "session s4's day 1", "session s4's day 2", "session s4's day 3")
		if n := b.timers(t, id); n != 0 {
			t.Errorf("%s has %d timers, want none", id, n)
		}
	}
	if n := b.timers(t, "s4"); n != 3 {
		t.Errorf("s4 has %d timers, want 3", n)
	}
}

// A step due as the event arrives (a session reported a little late) still
// gets its timer when the merge plans it: the merge, not the planner's first
// write, sets the timers of the session being planned.
func TestMergedStepDueAtOnceGetsItsTimer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.planner.Caps = plan.Caps{PerDay: 1, PerWeek: 3}
	// Time passes as the planner works, as it does in production.
	var mu sync.Mutex
	ticks := 0
	b.planner.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		ticks++
		return start.Add(time.Duration(ticks) * time.Millisecond)
	}
	ctx := context.Background()
	// Ended 24h05m ago: day 1 was due 5 minutes ago, within the grace.
	if err := b.planner.Apply(ctx, 1, sessionOf("e1", "late", start.Add(-24*time.Hour-5*time.Minute))); err != nil {
		t.Fatal(err)
	}
	fs := b.steps(t, "late")
	wantSteps(t, "late", fs, "scheduled", "scheduled", "scheduled")
	if late := fs[0].DueAt.Sub(start); late < 0 || late > time.Second {
		t.Errorf("day 1 due %v, want at once (%v)", fs[0].DueAt, start)
	}
	if n := b.timers(t, "late"); n != 3 {
		t.Errorf("%d timers, want 3: day 1's would never fire", n)
	}
}
