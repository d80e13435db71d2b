package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Caps bound the tips one client gets from one clinic, across all their
// sessions: the FCC's healthcare exemption allows a provider at most one text
// a day and three a week to a person. Zero leaves that bound off.
type Caps struct {
	PerDay  int // tips on one calendar day in the client's zone
	PerWeek int // tips in any 7 calendar days in the client's zone
}

// On reports whether any cap applies.
func (c Caps) On() bool { return c.PerDay > 0 || c.PerWeek > 0 }

// CapReason starts the reason of every tip a cap holds back, so a later
// merge knows the step may be sent after all (the session that took its place
// was cancelled, say).
const CapReason = "frequency cap: "

// IsCapSkip reports whether a step was skipped by a cap, and so may be
// brought back when the client's plan changes.
func IsCapSkip(reason string) bool { return strings.HasPrefix(reason, CapReason) }

// Tip is one tip of a client's merged plan.
type Tip struct {
	Session    string
	SessionEnd time.Time // the later session is the newer one
	Step       aftercare.Step
	DueAt      time.Time
	// Fixed tips are sent or under way: they count, and cannot be skipped.
	Fixed bool
}

// Merge decides which of a client's tips, from all their sessions, are sent:
// it returns, for each tip, why it is skipped, or "" when it is sent. Where
// sessions overlap on a day, the newer session's tips win the day's places;
// then tips beyond the weekly cap are skipped, the latest first. Fixed tips
// always count and are never skipped. Days are calendar days in loc.
func (c Caps) Merge(tips []Tip, loc *time.Location) []string {
	skip := make([]string, len(tips))
	if !c.On() {
		return skip
	}
	day := func(t time.Time) time.Time {
		y, m, d := t.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // a date, as a comparable value
	}
	if c.PerDay > 0 {
		byDay := map[time.Time][]int{}
		for i, t := range tips {
			byDay[day(t.DueAt)] = append(byDay[day(t.DueAt)], i)
		}
		for d, idx := range byDay {
			// Fixed first (they hold their places), then the newer session's.
			slices.SortFunc(idx, func(a, b int) int {
				ta, tb := tips[a], tips[b]
				if ta.Fixed != tb.Fixed {
					if ta.Fixed {
						return -1
					}
					return 1
				}
				if n := tb.SessionEnd.Compare(ta.SessionEnd); n != 0 {
					return n
				}
				if n := cmp.Compare(tb.Session, ta.Session); n != 0 {
					return n
				}
				return cmp.Compare(ta.Step, tb.Step)
			})
			for rank, i := range idx {
				if rank < c.PerDay || tips[i].Fixed {
					continue
				}
				winner := tips[idx[0]]
				skip[i] = fmt.Sprintf("%sat most %d a day to one client; session %s's day %d tip is sent on %s",
					CapReason, c.PerDay, winner.Session, winner.Step, d.Format(time.DateOnly))
			}
		}
	}
	if c.PerWeek > 0 {
		var kept []int
		for i := range tips {
			if skip[i] == "" {
				kept = append(kept, i)
			}
		}
		slices.SortStableFunc(kept, func(a, b int) int {
			if n := tips[a].DueAt.Compare(tips[b].DueAt); n != 0 {
				return n
			}
			if tips[a].Fixed != tips[b].Fixed {
				if tips[a].Fixed {
					return -1
				}
				return 1
			}
			return 0
		})
		var sent []time.Time // days of the tips kept so far, and of every fixed one
		for _, i := range kept {
			if tips[i].Fixed {
				sent = append(sent, day(tips[i].DueAt))
			}
		}
		for _, i := range kept {
			if tips[i].Fixed {
				continue
			}
			d := day(tips[i].DueAt)
			if fullWeek(sent, d, c.PerWeek) {
				skip[i] = fmt.Sprintf("%sat most %d a week to one client (%s)", CapReason, c.PerWeek, d.Format(time.DateOnly))
				continue
			}
			sent = append(sent, d)
		}
	}
	return skip
}

// fullWeek reports whether some run of 7 days that includes d already holds
// limit tips.
func fullWeek(days []time.Time, d time.Time, limit int) bool {
	for start := d.AddDate(0, 0, -6); !start.After(d); start = start.AddDate(0, 0, 1) {
		end := start.AddDate(0, 0, 7)
		n := 0
		for _, x := range days {
			if !x.Before(start) && x.Before(end) {
				n++
			}
		}
		if n >= limit {
			return true
		}
	}
	return false
}
