package plan_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/plan"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func at(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPlan(t *testing.T) {
	t.Parallel()
	ny := mustZone(t, "America/New_York")
	london := mustZone(t, "Europe/London")
	window := plan.MustWindow("* 9-19 * * *")
	policy := plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour, Grace: 15 * time.Minute}

	tests := []struct {
		name string
		loc  *time.Location
		end  string
		now  string // defaults to end
		want []string
	}{
		{
			name: "inside the window: same wall-clock time on each of the next three days",
			loc:  london, end: "2026-11-23 15:00",
			want: []string{"2026-11-24 15:00", "2026-11-25 15:00", "2026-11-26 15:00"},
		},
		{
			name: "evening session: each step moves to 09:00 next morning",
			loc:  london, end: "2026-11-23 20:30",
			want: []string{"2026-11-25 09:00", "2026-11-26 09:00", "2026-11-27 09:00"},
		},
		{
			name: "early session: each step waits for the window to open",
			loc:  london, end: "2026-11-23 07:15",
			want: []string{"2026-11-24 09:00", "2026-11-25 09:00", "2026-11-26 09:00"},
		},
		{
			// Clocks go forward at 02:00 on 8 March 2026 in New York: the day
			// is 23 hours long, but the follow-up keeps its wall-clock time.
			name: "spring forward keeps the local time",
			loc:  ny, end: "2026-03-07 18:30",
			want: []string{"2026-03-08 18:30", "2026-03-09 18:30", "2026-03-10 18:30"},
		},
		{
			// Clocks go back at 02:00 on 1 November 2026 in New York.
			name: "fall back keeps the local time",
			loc:  ny, end: "2026-10-31 10:00",
			want: []string{"2026-11-01 10:00", "2026-11-02 10:00", "2026-11-03 10:00"},
		},
		{
			name: "late evening before the DST change shifts to 09:00 local after it",
			loc:  ny, end: "2026-03-07 21:00",
			want: []string{"2026-03-09 09:00", "2026-03-10 09:00", "2026-03-11 09:00"},
		},
		{
			name: "event arrives 37 hours late: day 1 was due before it arrived, day 2 and 3 stand",
			loc:  london, end: "2026-11-23 10:00", now: "2026-11-24 23:00",
			want: []string{"skip", "2026-11-25 10:00", "2026-11-26 10:00"},
		},
		{
			name: "event arrives 10 minutes after day 1 was due, within the grace: day 1 goes now",
			loc:  london, end: "2026-11-23 10:00", now: "2026-11-24 10:10",
			want: []string{"2026-11-24 10:10", "2026-11-25 10:00", "2026-11-26 10:00"},
		},
		{
			name: "event arrives 5 hours after day 1 was due: day 1 is not sent late",
			loc:  london, end: "2026-11-23 10:00", now: "2026-11-24 15:00",
			want: []string{"skip", "2026-11-25 10:00", "2026-11-26 10:00"},
		},
		{
			name: "event arrives within the grace at night: day 1 waits for the morning, not sent at night",
			loc:  london, end: "2026-11-23 21:50", now: "2026-11-24 22:00",
			want: []string{"2026-11-25 09:00", "2026-11-26 09:00", "2026-11-27 09:00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			end := at(t, tt.loc, tt.end)
			now := end
			if tt.now != "" {
				now = at(t, tt.loc, tt.now)
			}
			steps := policy.Plan(end, now, tt.loc, window)
			if len(steps) != len(tt.want) {
				t.Fatalf("got %d steps, want %d", len(steps), len(tt.want))
			}
			for i, s := range steps {
				if int(s.Step) != i+1 {
					t.Errorf("step %d numbered %d", i+1, s.Step)
				}
				if tt.want[i] == "skip" {
					if s.Skip == "" {
						t.Errorf("step %d: due %v, want skipped", s.Step, s.DueAt)
					}
					continue
				}
				if want := at(t, tt.loc, tt.want[i]); !s.DueAt.Equal(want) || s.Skip != "" {
					t.Errorf("step %d: due %v (skip %q), want %v", s.Step, s.DueAt.In(tt.loc), s.Skip, want)
				}
			}
		})
	}
}

// A backdated session (it ended 30 hours before its event arrived) does not
// text day 1 at once: the step is skipped, and says why.
func TestBackdatedStepsAreSkipped(t *testing.T) {
	t.Parallel()
	policy := plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour, Grace: 15 * time.Minute}
	now := time.Date(2026, 11, 24, 16, 0, 0, 0, time.UTC)
	steps := policy.Plan(now.Add(-30*time.Hour), now, time.UTC, plan.AlwaysOpen)
	if steps[0].Skip != plan.SkipBeforeEvent || !steps[0].DueAt.IsZero() {
		t.Errorf("day 1 (due 6 h before the event): due %v, skip %q; want skipped as %q", steps[0].DueAt, steps[0].Skip, plan.SkipBeforeEvent)
	}
	for _, s := range steps[1:] {
		if s.Skip != "" || !s.DueAt.After(now) {
			t.Errorf("step %d: due %v, skip %q; want due after the event", s.Step, s.DueAt, s.Skip)
		}
	}
	// Every step in the past: all skipped, none sent.
	for _, s := range policy.Plan(now.Add(-80*time.Hour), now, time.UTC, plan.AlwaysOpen) {
		if s.Skip == "" {
			t.Errorf("step %d of a session 80 h old: due %v, want skipped", s.Step, s.DueAt)
		}
	}
}

func TestWindowWeekdays(t *testing.T) {
	t.Parallel()
	loc := mustZone(t, "America/Mexico_City")
	w := plan.MustWindow("* 9-17 * * MON-FRI")
	sat := at(t, loc, "2026-11-28 10:00") // a Saturday
	if got, want := w.Next(sat, loc), at(t, loc, "2026-11-30 09:00"); !got.Equal(want) {
		t.Errorf("Saturday moves to %v, want Monday %v", got, want)
	}
	if !w.Contains(at(t, loc, "2026-11-27 17:59"), loc) || w.Contains(at(t, loc, "2026-11-27 18:00"), loc) {
		t.Error("window edges wrong on Friday")
	}
}

func TestOffsetsThatAreNotWholeDays(t *testing.T) {
	t.Parallel()
	policy := plan.Policy{Offsets: []time.Duration{10 * time.Second, 90 * time.Minute}, Staleness: time.Hour}
	end := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	steps := policy.Plan(end, end, time.UTC, plan.AlwaysOpen)
	if !steps[0].DueAt.Equal(end.Add(10*time.Second)) || !steps[1].DueAt.Equal(end.Add(90*time.Minute)) {
		t.Errorf("got %v and %v", steps[0].DueAt, steps[1].DueAt)
	}
}

func TestParseWindowErrors(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"", "every day", "@every 1h", "* 25 * * *", "* * 31 2 *"} {
		if _, err := plan.ParseWindow(spec); err == nil {
			t.Errorf("ParseWindow(%q): want an error", spec)
		}
	}
}

func ExamplePolicy_Plan() {
	london, _ := time.LoadLocation("Europe/London")
	policy := plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour}
	end := time.Date(2026, 11, 23, 19, 30, 0, 0, london) // an evening session
	for _, s := range policy.Plan(end, end, london, plan.MustWindow("* 9-19 * * *")) {
		fmt.Println(s.Step, s.DueAt.In(london).Format("Mon 02 Jan 15:04"))
	}
	// Output:
	// 1 Tue 24 Nov 19:30
	// 2 Wed 25 Nov 19:30
	// 3 Thu 26 Nov 19:30
}

// BenchmarkPlan plans three follow-ups for a session ending in the evening,
// so the steps must move to the next morning's send window: the costly case.
func BenchmarkPlan(b *testing.B) {
	loc, _ := time.LoadLocation("Europe/London")
	w, err := plan.ParseWindow("* 9-19 * * MON-FRI")
	if err != nil {
		b.Fatal(err)
	}
	p := plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour}
	end := time.Date(2026, 11, 20, 21, 30, 0, 0, loc) // a Friday evening
	now := end.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if steps := p.Plan(end, now, loc, w); len(steps) != 3 {
			b.Fatal(steps)
		}
	}
}

func TestWindowWithinQuietHours(t *testing.T) {
	t.Parallel()
	tests := []struct {
		window, region string
		ok             bool
	}{
		{"* 9-19 * * *", "", true},
		{"* 8-20 * * *", "", true},
		{"* 8-20 * * *", "us-fl", false},
		{"* 8-19 * * MON-FRI", "us-md", true},
		{"* * * * *", "", false},
		{"*/5 * * * *", "us-ok", false},
		{"* 7-12 * * *", "", false},
		{"0 21 * * *", "", false},
		{"30 20 * * *", "", true},
	}
	for _, tt := range tests {
		hours, ok := plan.QuietHours[tt.region]
		if !ok {
			t.Fatalf("no quiet hours for %q", tt.region)
		}
		err := plan.MustWindow(tt.window).Within(hours)
		if (err == nil) != tt.ok {
			t.Errorf("%q within %v: %v, want ok=%v", tt.window, hours, err, tt.ok)
		}
	}
}
