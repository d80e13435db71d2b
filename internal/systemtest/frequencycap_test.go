package systemtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// A clinic inside the calling hours, as production runs it (no
// ALLOW_ANY_SEND_WINDOW), with the service's default caps.
const cappedClinicJSON = `{"clinics":[{"id":"harbour","name":"Harbour Massage","time_zone":"Europe/London",
 "send_window":"* 8-20 * * *","locale":"en","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
 "intake_token_env":"HARBOUR_TOKEN",
 "escalation":{"on_call_phone":"+447700900199","webhook_url":"%s","webhook_secret_env":"HARBOUR_WEBHOOK_SECRET"}}]}`

// noonZone is a fixed-offset zone in which it is now about midday, so the
// test's "days" are whole calendar days inside the send window whenever it runs.
func noonZone(now time.Time) string {
	n := 12 - now.UTC().Hour() // UTC+n
	if n > 0 {
		return fmt.Sprintf("Etc/GMT-%d", n) // POSIX sign: Etc/GMT-12 is UTC+12
	}
	if n < 0 {
		return fmt.Sprintf("Etc/GMT+%d", -n)
	}
	return "Etc/UTC"
}

// The client, seen "Monday" and "Tuesday" (sessions ending 24 hours
// apart, offsets 24h, 48h, 72h), gets one text a day and three a week: against
// the real programs, Monday's day 1 is texted, Monday's days 2 and 3 give way
// to Tuesday's session on the days they share, and Tuesday's day 3 would be a
// fourth text in a week; each held-back step says why in GET /v1/sessions.
// Cancelling Tuesday's session brings Monday's back.
func TestClientSeenTwoDaysRunningGetsOneTextADay(t *testing.T) {
	t.Parallel()
	s := setup(t, "24h,48h,72h")
	if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(cappedClinicJSON, s.clinic.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	production := []string{"ALLOW_ANY_SEND_WINDOW=false", "FREQUENCY_CAP_PER_DAY=1", "FREQUENCY_CAP_PER_WEEK=3"}
	scheduler := s.start("scheduler", production...)
	s.start("worker", production...)

	const phone = "+447700900321"
	now := time.Now()
	zone := noonZone(now)
	session := func(id, session string, end time.Time) string {
		b, _ := json.Marshal(map[string]any{"event_id": id, "session_id": session, "kind": "completed",
			"session_end": end.UTC().Format(time.RFC3339Nano), "client": map[string]string{"phone": phone, "time_zone": zone, "locale": "en"}})
		return string(b)
	}
	monday := now.Add(-24*time.Hour + 4*time.Second) // its day 1 falls due in 4 s
	s.post(scheduler, session("e-mon", "mon", monday))
	s.post(scheduler, session("e-tue", "tue", monday.Add(24*time.Hour-5*time.Second)))

	got := s.messagesTo(phone, 1, 20*time.Second)
	if len(got) != 1 || !strings.HasPrefix(got[0].Body, "Harbour Massage: Day 1") {
		t.Fatalf("texts: %+v; want Monday's day 1", got)
	}

	type view struct {
		FollowUps []struct {
			Step   int    `json:"step"`
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"follow_ups"`
	}
	// want is each step's status, or the words its reason must hold.
	check := func(id string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var v view
			code := s.getJSON(scheduler, "/v1/sessions/"+id, token, &v)
			bad := ""
			if code != http.StatusOK || len(v.FollowUps) != len(want) {
				bad = fmt.Sprintf("%d %+v", code, v)
			}
			for i := 0; bad == "" && i < len(want); i++ {
				f := v.FollowUps[i]
				switch w := want[i]; w {
				case "sent", "scheduled", "cancelled":
					if f.Status != w {
						bad = fmt.Sprintf("day %d is %s (%s), want %s", f.Step, f.Status, f.Reason, w)
					}
				default:
					if f.Status != string(aftercare.FollowUpSkipped) || !strings.Contains(f.Reason, w) {
						bad = fmt.Sprintf("day %d is %s (%q), want skipped: %s", f.Step, f.Status, f.Reason, w)
					}
				}
			}
			if bad == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("session %s: %s", id, bad)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	check("mon", "sent", "frequency cap: at most 1 a day to one client; session tue's day 1 tip is sent on",
		"frequency cap: at most 1 a day to one client; session tue's day 2 tip is sent on")
	check("tue", "scheduled", "scheduled", "frequency cap: at most 3 a week to one client")
	if code, body := s.call(scheduler, http.MethodGet, "/metrics", "", ""); code != http.StatusOK || !strings.Contains(string(body), `aftercare_followups_planned_total{event="capped"} 3`) {
		t.Errorf("metrics (%d) do not count 3 held back:\n%s", code, body)
	}

	// Tuesday's session is cancelled: its steps go, Monday's days 2 and 3
	// are texted after all.
	s.post(scheduler, `{"event_id":"e-tue-cancel","session_id":"tue","kind":"cancelled"}`)
	check("mon", "sent", "scheduled", "scheduled")
	check("tue") // a cancelled session shows no plan
	if n := len(s.messagesTo(phone, 2, time.Second)); n != 1 {
		t.Errorf("%d texts in all, want 1", n)
	}
}
