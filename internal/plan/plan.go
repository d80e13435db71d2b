// Package plan computes when each follow-up of a session is sent: the offsets
// after the session ends, the clinic's send window in the client's time zone,
// daylight-saving changes, and steps too stale to send at all.
package plan

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Window is the set of minutes in which a clinic allows texts, written as a
// standard 5-field cron spec: "* 9-19 * * *" is 09:00 to 19:59 every day,
// "* 9-17 * * MON-FRI" office hours. It is read in the client's time zone.
type Window struct {
	spec     string
	schedule *cron.SpecSchedule
}

// AlwaysOpen is the window that allows every minute.
var AlwaysOpen = MustWindow("* * * * *")

// ParseWindow parses a cron spec into a Window.
func ParseWindow(spec string) (Window, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return Window{}, fmt.Errorf("send window %q: %w", spec, err)
	}
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		// "@every 1h" parses to a ConstantDelaySchedule: not a set of minutes.
		return Window{}, fmt.Errorf("send window %q: want a cron spec of minutes, hours, days", spec)
	}
	w := Window{spec: spec, schedule: ss}
	if w.open(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Window{}, fmt.Errorf("send window %q never opens", spec)
	}
	return w, nil
}

// MustWindow is ParseWindow for specs known to be valid.
func MustWindow(spec string) Window {
	w, err := ParseWindow(spec)
	if err != nil {
		panic(err)
	}
	return w
}

func (w Window) String() string { return w.spec }

// Next returns t if t falls inside the window in loc, otherwise the start of
// the next opening. robfig/cron walks wall-clock fields in loc, so a day on
// which the clocks change keeps its local opening hours.
func (w Window) Next(t time.Time, loc *time.Location) time.Time {
	s := *w.schedule
	s.Location = loc
	minute := t.Truncate(time.Minute)
	if s.Next(minute.Add(-time.Second)).Equal(minute) {
		return t
	}
	return s.Next(t)
}

// open is Next in UTC, used to check that a window opens at all.
func (w Window) open(t time.Time) time.Time { return w.schedule.Next(t) }

// Contains reports whether t falls inside the window in loc.
func (w Window) Contains(t time.Time, loc *time.Location) bool {
	return w.Next(t, loc).Equal(t)
}

// Policy is the part of the plan that is the same for every clinic.
type Policy struct {
	// Offsets after the session ends, one per step. An offset of whole days
	// is counted in calendar days in the client's zone (same wall-clock time,
	// even across a daylight-saving change); any other offset is a duration.
	Offsets []time.Duration
	// Staleness is how far past its time a step may be when we learn of it
	// and still be sent; older steps are skipped.
	Staleness time.Duration
	// Grace is how far a step may be due before its session event arrived
	// and still be sent (at once): booking systems report a little late. A
	// step due earlier is skipped, so a backdated session cannot text now.
	Grace time.Duration
}

// DefaultOffsets are day 1, day 2 and day 3 after the session.
var DefaultOffsets = []time.Duration{24 * time.Hour, 48 * time.Hour, 72 * time.Hour}

// Step is one follow-up of a plan: when it is due, or why it is skipped.
type Step struct {
	Step  aftercare.Step
	DueAt time.Time // zero when skipped
	Skip  string    // why the step is not sent; empty when it is due
}

// Reasons given for a step that is not sent.
const (
	// SkipBeforeEvent: the step was due (by more than Grace) before the
	// session event arrived, so it is not sent late but not at all.
	SkipBeforeEvent = "due before the session event arrived"
	// SkipStale: the step is too far in the past.
	SkipStale = "stale: its time had passed by more than the staleness limit when the session event arrived"
)

// Plan returns the steps for a session that ended at end, for a client in loc,
// as known at now, the time the session event arrived.
func (p Policy) Plan(end, now time.Time, loc *time.Location, w Window) []Step {
	steps := make([]Step, 0, len(p.Offsets))
	for i, offset := range p.Offsets {
		step := Step{Step: aftercare.Step(i + 1)}
		due := after(end, offset, loc)
		switch late := now.Sub(due); {
		case late > p.Grace:
			step.Skip = SkipBeforeEvent
		case late > p.Staleness:
			step.Skip = SkipStale
		}
		if step.Skip != "" {
			steps = append(steps, step)
			continue
		}
		if due.Before(now) {
			due = now
		}
		step.DueAt = w.Next(due, loc)
		steps = append(steps, step)
	}
	return steps
}

func after(end time.Time, offset time.Duration, loc *time.Location) time.Time {
	const day = 24 * time.Hour
	if offset <= 0 || offset%day != 0 {
		return end.Add(offset)
	}
	local := end.In(loc)
	y, m, d := local.Date()
	return time.Date(y, m, d+int(offset/day), local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), loc)
}

// Hours is a daily span of local time, [From:00, To:00), that every minute of
// a send window must lie within.
type Hours struct{ From, To int }

func (h Hours) String() string { return fmt.Sprintf("%02d:00-%02d:00", h.From, h.To) }

// QuietHours are the spans a clinic's send window must lie within, in the
// recipient's zone, by the region whose rules the clinic selects ("" for the
// general rule). Sources:
//   - "": the TCPA's calling hours, 47 CFR 64.1200(c)(1): no calls (texts
//     included) before 8 a.m. or after 9 p.m. at the called party's
//     location. Applied to every clinic, in any country, as the floor.
//   - "us-fl": Florida Telephone Solicitation Act, Fla. Stat. 501.059(8)(a),
//     8 a.m. to 8 p.m. (2021 amendment, SB 1120).
//   - "us-ok": Oklahoma Telephone Solicitation Act of 2022, 15 O.S.
//     775C.4, 8 a.m. to 8 p.m.
//   - "us-md": Maryland Stop the Spam Calls Act of 2023, Md. Code Com. Law
//     14-4503, 8 a.m. to 8 p.m.
var QuietHours = map[string]Hours{
	"":      {8, 21},
	"us-fl": {8, 20},
	"us-ok": {8, 20},
	"us-md": {8, 20},
}

// Within checks that every minute the window opens falls inside h: its
// hours field names no hour before h.From or from h.To on. "* * * * *"
// (every hour) fails.
func (w Window) Within(h Hours) error {
	const starBit = 1 << 63 // robfig/cron marks a "*" field with the top bit
	hours := w.schedule.Hour &^ starBit
	for hour := 0; hour < 24; hour++ {
		if hours&(1<<hour) != 0 && (hour < h.From || hour >= h.To) {
			return fmt.Errorf("send window %q opens at %02d:00, outside %s in the recipient's zone", w.spec, hour, h)
		}
	}
	return nil
}
