package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation/escalationtest"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

const steps = 3

// verdict is what a scenario's check found.
type verdict struct {
	sessions, followUps  int // acknowledged sessions, and their follow-ups
	sent, cancelled      int // follow-ups sent once; cancelled by the client's escalation
	lost                 []string
	dupInWindow          int      // sent twice because Twilio accepted it just before a kill
	dupOther             []string // sent twice for no reason a fault explains
	escalations, reached int      // acknowledged red-flag replies; those that reached the clinic both ways
	missed               []string
	webhookRepeats       int // escalation webhooks delivered more than once (same delivery id)
	settled              bool
	// worstLate is the latest a follow-up reached Twilio after its due
	// time; p99Late the 99th percentile.
	worstLate, p99Late time.Duration
}

func (v verdict) ok() bool {
	return v.settled && len(v.lost) == 0 && len(v.dupOther) == 0 && len(v.missed) == 0
}

var dayN = regexp.MustCompile(`Day (\d)`)

// check compares what was acknowledged with the stand-in's records and the
// service's own: every acknowledged session has its plan; each follow-up
// is sent exactly once (or cancelled because its client escalated); each
// acknowledged red-flag reply reached the clinic's webhook and on-call phone.
// recordingFaults are the moments a fault could have come between Twilio
// accepting a text and the worker recording it (a worker or nats-server
// killed): a second copy of a text accepted just before one is the known,
// reported duplicate window; any other is a failure.
func check(ctx context.Context, store *natsjs.Store, msgs []twiliotest.Message, l *load, clinic *escalationtest.Receiver, recordingFaults []time.Time) (verdict, error) {
	acked, replies, refused := l.snapshot()
	webhooksFor := webhooksByReply(clinic)
	var v verdict
	for _, r := range refused {
		v.lost = append(v.lost, "refused: "+r)
	}
	texts := map[string][]twiliotest.Message{} // phone/step -> follow-up texts
	onCall := map[string]bool{}                // client phone named in an on-call alert
	for _, m := range msgs {
		if m.To == onCallPhone {
			for _, f := range strings.Fields(m.Body) {
				onCall[f] = true
			}
			continue
		}
		if d := dayN.FindStringSubmatch(m.Body); d != nil {
			texts[m.To+"/"+d[1]] = append(texts[m.To+"/"+d[1]], m)
		}
	}
	v.sessions, v.followUps = len(acked), steps*len(acked)
	var lateness []time.Duration
	for i, end := range acked {
		if _, _, err := store.Session(ctx, clinicID, sessionID(i)); errors.Is(err, aftercare.ErrNotFound) {
			v.lost = append(v.lost, fmt.Sprintf("session %d: acknowledged but no session record", i))
			continue
		} else if err != nil {
			return v, err
		}
		for step := aftercare.Step(1); step <= steps; step++ {
			f, _, err := store.FollowUp(ctx, clinicID, sessionID(i), step)
			if errors.Is(err, aftercare.ErrNotFound) {
				v.lost = append(v.lost, fmt.Sprintf("session %d step %d: no follow-up record", i, step))
				continue
			} else if err != nil {
				return v, err
			}
			got := texts[fmt.Sprintf("%s/%d", phone(i), step)]
			switch {
			case f.Status == aftercare.FollowUpSent && recorded(got, f.MessageSID):
				v.sent++
				due := end.Add(time.Duration(step) * time.Second) // FOLLOWUP_OFFSETS=1s,2s,3s
				lateness = append(lateness, got[0].Received.Sub(due))
			case f.Status == aftercare.FollowUpSent:
				v.lost = append(v.lost, fmt.Sprintf("session %d step %d: recorded as sent (%s), Twilio has no such text", i, step, f.MessageSID))
			case f.Status == aftercare.FollowUpCancelled && escalating(i) && strings.Contains(f.Reason, "escalated"):
				v.cancelled++ // a text already with Twilio when the reply came is fine
			default:
				v.lost = append(v.lost, fmt.Sprintf("session %d step %d: %s %s", i, step, f.Status, f.Reason))
			}
			for _, m := range got {
				if m.SID == f.MessageSID || len(got) == 1 {
					continue
				}
				if nearBefore(m.Received, recordingFaults) {
					v.dupInWindow++
				} else {
					v.dupOther = append(v.dupOther, fmt.Sprintf("session %d step %d: %d texts", i, step, len(got)))
				}
			}
		}
	}
	if len(lateness) > 0 {
		slices.Sort(lateness)
		v.worstLate, v.p99Late = lateness[len(lateness)-1], lateness[len(lateness)*99/100]
	}
	for sid, i := range replies {
		v.escalations++
		webhooks := webhooksFor[sid]
		switch {
		case webhooks == 0:
			v.missed = append(v.missed, fmt.Sprintf("session %d: escalation never reached the clinic's webhook", i))
		case !onCall[phone(i)]:
			v.missed = append(v.missed, fmt.Sprintf("session %d: no alert text to the on-call phone", i))
		default:
			v.reached++
		}
		v.webhookRepeats += max(webhooks-1, 0)
	}
	return v, nil
}

func recorded(texts []twiliotest.Message, sid string) bool {
	for _, m := range texts {
		if m.SID == sid {
			return true
		}
	}
	return false
}

// recordWindow bounds the time from a text reaching Twilio to the worker
// recording it, with nothing in the way: a text that reached Twilio longer
// than this before a fault should have been recorded.
const recordWindow = 2 * time.Second

func nearBefore(at time.Time, faults []time.Time) bool {
	for _, f := range faults {
		if !at.After(f) && f.Sub(at) < recordWindow {
			return true
		}
	}
	return false
}

// pending counts acknowledged follow-ups not yet final and escalations not
// yet at the clinic: the scenario is over when both are zero.
func pending(ctx context.Context, store *natsjs.Store, l *load, clinic *escalationtest.Receiver, msgs []twiliotest.Message) (followUps, escalations int, err error) {
	acked, replies, _ := l.snapshot()
	for i := range acked {
		fs, err := store.FollowUps(ctx, clinicID, sessionID(i), steps)
		if err != nil {
			return 0, 0, err
		}
		followUps += steps - len(fs)
		for _, f := range fs {
			if !f.Status.Final() {
				followUps++
			}
		}
	}
	alerted := map[string]bool{}
	for _, m := range msgs {
		if m.To == onCallPhone {
			for _, f := range strings.Fields(m.Body) {
				alerted[f] = true
			}
		}
	}
	webhooksFor := webhooksByReply(clinic)
	for sid, i := range replies {
		if webhooksFor[sid] == 0 || !alerted[phone(i)] {
			escalations++
		}
	}
	return followUps, escalations, nil
}

// webhooksByReply counts the clinic's escalation webhooks per reply SID.
func webhooksByReply(clinic *escalationtest.Receiver) map[string]int {
	n := map[string]int{}
	for _, r := range clinic.Received() {
		n[r.Payload.Escalation.ReplySID]++
	}
	return n
}

// timersFiredTwice counts follow-ups whose JetStream timer published its job
// more than once: each followups.due subject should hold one message.
func timersFiredTwice(ctx context.Context, js jetstream.JetStream) (int, error) {
	s, err := js.Stream(ctx, natsjs.StreamFollowUps)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("followups.due.>"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, count := range info.State.Subjects {
		if count > 1 {
			n++
		}
	}
	return n, nil
}
