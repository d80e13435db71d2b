package plan_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/plan"
)

// The client, seen Monday and Tuesday at 10:00: each session plans
// day 1, 2 and 3, so Wednesday and Thursday have two tips each.
func mondayAndTuesday(loc *time.Location) []plan.Tip {
	mon := time.Date(2026, 12, 7, 10, 0, 0, 0, loc)
	tue := mon.AddDate(0, 0, 1)
	var tips []plan.Tip
	for _, s := range []struct {
		id  string
		end time.Time
	}{{"mon", mon}, {"tue", tue}} {
		for step := 1; step <= 3; step++ {
			tips = append(tips, plan.Tip{Session: s.id, SessionEnd: s.end, Step: aftercare.Step(step), DueAt: s.end.AddDate(0, 0, step)})
		}
	}
	return tips
}

func TestMergeOneADayThreeAWeek(t *testing.T) {
	t.Parallel()
	loc := mustZone(t, "America/New_York")
	caps := plan.Caps{PerDay: 1, PerWeek: 3}
	tips := mondayAndTuesday(loc)

	got := caps.Merge(tips, loc)
	// Monday's day 1 (Tuesday), Tuesday's day 1 and 2 (Wednesday, Thursday):
	// the newer session wins the shared days, and Friday's is the fourth.
	want := []string{"", "a day", "a day", "", "", "a week"}
	for i, w := range want {
		switch {
		case w == "" && got[i] != "":
			t.Errorf("%s day %d skipped: %s", tips[i].Session, tips[i].Step, got[i])
		case w != "" && (!plan.IsCapSkip(got[i]) || !strings.Contains(got[i], w)):
			t.Errorf("%s day %d: reason %q, want a cap %q", tips[i].Session, tips[i].Step, got[i], w)
		}
	}
	if !strings.Contains(got[1], "session tue's day 1 tip is sent on 2026-12-09") {
		t.Errorf("reason %q does not say which tip takes the day", got[1])
	}

	// Monday's day 2 already went out on Wednesday: it keeps the day.
	tips[1].Fixed = true
	got = caps.Merge(tips, loc)
	if got[1] != "" || !plan.IsCapSkip(got[3]) {
		t.Errorf("a sent tip lost its day: %q", got)
	}

	// With the caps off, every tip goes.
	for i, r := range (plan.Caps{}).Merge(mondayAndTuesday(loc), loc) {
		if r != "" {
			t.Errorf("no caps, tip %d skipped: %s", i, r)
		}
	}
	// Two a day, five a week: both sessions' tips fit.
	for i, r := range (plan.Caps{PerDay: 2, PerWeek: 6}).Merge(mondayAndTuesday(loc), loc) {
		if r != "" {
			t.Errorf("roomy caps, tip %d skipped: %s", i, r)
		}
	}
}

// Days are the client's: 23:30 and 00:30 the next morning in New York are
// two days, though the same day in UTC.
func TestMergeCountsDaysInTheClientsZone(t *testing.T) {
	t.Parallel()
	loc := mustZone(t, "America/New_York")
	late := time.Date(2026, 12, 8, 20, 30, 0, 0, loc) // 01:30 UTC the next day
	tips := []plan.Tip{
		{Session: "a", SessionEnd: late, Step: 1, DueAt: late},
		{Session: "b", SessionEnd: late.Add(time.Hour), Step: 1, DueAt: late.Add(4 * time.Hour)}, // 00:30 local, 05:30 UTC
	}
	for i, r := range (plan.Caps{PerDay: 1}).Merge(tips, loc) {
		if r != "" {
			t.Errorf("tip %d skipped: %s", i, r)
		}
	}
	if r := (plan.Caps{PerDay: 1}).Merge(tips, time.UTC); r[0] == "" {
		t.Errorf("in UTC both fall on one day, yet both go: %q", r)
	}
}
