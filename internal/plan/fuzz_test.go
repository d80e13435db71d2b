package plan_test

import (
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/plan"
)

var fuzzZones = []string{"UTC", "Europe/London", "America/Mexico_City", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham"}

// FuzzPlan: for any send window that parses, any session end and arrival
// time (this century), any zone and offsets, the plan has one step per
// offset, each either skipped with a reason or due at a time inside the
// window, not before the event arrived and not before the offset is up.
// Seeds are in testdata/fuzz/FuzzPlan.
func FuzzPlan(f *testing.F) {
	f.Add("* 9-19 * * *", int64(1795460400), int64(0), uint8(1), int64(0))
	f.Add("30 8-17 * * MON-FRI", int64(1774746000), int64(3600), uint8(2), int64(90))
	f.Add("0 2 * * *", int64(1774746000), int64(-86400), uint8(3), int64(0)) // 02:00 on a spring-forward night
	f.Add("* * 29 2 *", int64(1795460400), int64(90000), uint8(4), int64(1440))
	f.Fuzz(func(t *testing.T, spec string, endUnix, arrivesAfter int64, zone uint8, offsetMinutes int64) {
		w, err := plan.ParseWindow(spec)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		loc, err := time.LoadLocation(fuzzZones[int(zone)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		const century = 100 * 365 * 24 * 3600
		end := time.Unix(946684800+mod(endUnix, century), 0)
		now := end.Add(time.Duration(mod(arrivesAfter, 30*24*3600)-7*24*3600) * time.Second)
		offsets := plan.DefaultOffsets
		if offsetMinutes != 0 {
			offsets = []time.Duration{time.Duration(1+mod(offsetMinutes, 10*24*60)) * time.Minute}
		}
		p := plan.Policy{Offsets: offsets, Staleness: 12 * time.Hour, Grace: 15 * time.Minute}
		steps := p.Plan(end, now, loc, w)
		if len(steps) != len(offsets) {
			t.Fatalf("%d steps for %d offsets", len(steps), len(offsets))
		}
		for i, s := range steps {
			switch {
			case int(s.Step) != i+1:
				t.Fatalf("step %d numbered %d", i+1, s.Step)
			case s.Skip != "" && !s.DueAt.IsZero():
				t.Fatalf("step %d skipped (%s) yet due %v", s.Step, s.Skip, s.DueAt)
			case s.Skip != "":
			case s.DueAt.IsZero():
				t.Fatalf("step %d neither due nor skipped (window %q, end %v, zone %v)", s.Step, spec, end, loc)
			case s.DueAt.Before(now) || s.DueAt.Before(end.Add(offsets[i]-2*time.Hour)):
				t.Fatalf("step %d due %v: before the event arrived (%v) or the offset was up (end %v)", s.Step, s.DueAt, now, end)
			case !w.Contains(s.DueAt, loc):
				t.Fatalf("step %d due %v, outside the window %q in %v", s.Step, s.DueAt.In(loc), spec, loc)
			}
		}
	})
}

func mod(v, m int64) int64 { return ((v % m) + m) % m }
