package systemtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// londonDay is today's date in harbour's zone; a test that would straddle
// midnight there is skipped, as its texts would count on two days.
func londonDay(t *testing.T) string {
	t.Helper()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(london)
	if now.Add(time.Minute).Day() != now.Day() {
		t.Skip("a minute before midnight in London: the texts would fall on two days")
	}
	return now.Format(time.DateOnly)
}

// postAll posts bodies at once as a clinic and returns each answer.
func (s *system) postAll(scheduler *program, bearer string, bodies []string) (statuses []int, answers []string) {
	statuses, answers = make([]int, len(bodies)), make([]string, len(bodies))
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Go(func() {
			status, out := s.call(scheduler, http.MethodPost, "/v1/sessions", bearer, body)
			statuses[i], answers[i] = status, string(out)
		})
	}
	wg.Wait()
	return statuses, answers
}

// Forty sessions for one client, posted at once, with a quota of 3 texts a
// day per client and one text per session: exactly 3 are accepted and
// texted; the other 37 are 429 naming the quota, its limit and the day, are
// stored nowhere, and the scheduler's metrics count them. The NATS intake
// refuses the same way.
func TestRecipientQuota(t *testing.T) {
	t.Parallel()
	s := setup(t, "2s")
	day := londonDay(t)
	scheduler := s.start("scheduler", "QUOTA_TEXTS_PER_RECIPIENT_PER_DAY=3")
	s.start("worker")

	const client = "+447700900801"
	bodies := make([]string, 40)
	for i := range bodies {
		bodies[i] = event(fmt.Sprintf("q%d", i), fmt.Sprintf("q%d", i), "completed", client, time.Now())
	}
	statuses, answers := s.postAll(scheduler, token, bodies)
	accepted, refused := 0, 0
	for i, status := range statuses {
		switch status {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			refused++
			for _, want := range []string{"quota exceeded", "3 texts a day to one client", day, "Europe/London"} {
				if !strings.Contains(answers[i], want) {
					t.Errorf("429 %s does not say %q", answers[i], want)
				}
			}
		default:
			t.Errorf("session %d: %d %s", i, status, answers[i])
		}
	}
	if accepted != 3 || refused != 37 {
		t.Fatalf("%d accepted, %d refused; want 3 and 37", accepted, refused)
	}

	// Over NATS: the same refusal, as the reply's status.
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := nats.NewMsg(natsjs.IntakeSubject)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Data = []byte(event("q-nats", "q-nats", "completed", client, time.Now()))
	res, err := nc.RequestMsg(req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(res.Data, &reply); err != nil || reply.Status != http.StatusTooManyRequests || !strings.Contains(reply.Error, "3 texts a day to one client") {
		t.Errorf("NATS intake answered %s, want status 429 naming the quota", res.Data)
	}

	if got := s.messagesTo(client, 3, 15*time.Second); len(got) != 3 {
		t.Fatalf("%d texts, want 3", len(got))
	}
	time.Sleep(3 * time.Second) // a text beyond the quota would be due by now
	if got := s.messagesTo(client, 4, 0); len(got) != 3 {
		t.Fatalf("%d texts in all, want exactly 3", len(got))
	}
	_, js := s.store()
	if n := streamCount(t, js, natsjs.StreamSessions); n != 3 {
		t.Errorf("%d events stored, want the 3 accepted", n)
	}
	s.wantMetrics(scheduler,
		`aftercare_quota_refusals_total{clinic="harbour",quota="recipient"} 38`,
		`aftercare_session_events_total{outcome="quota_exceeded"} 38`)
}

// A clinic's own quota, set in the clinics file, of 5 texts a day: its
// sixth session is refused, for whichever client; the other clinic, on the
// service's quota, is not affected.
func TestClinicQuota(t *testing.T) {
	t.Parallel()
	s := setup(t, "2s")
	day := londonDay(t)
	raw, err := os.ReadFile(s.clinics)
	if err != nil {
		t.Fatal(err)
	}
	withQuota := strings.Replace(string(raw), `"intake_token_env":"HARBOUR_TOKEN",`, `"intake_token_env":"HARBOUR_TOKEN","quota":{"texts_per_day":5},`, 1)
	if err := os.WriteFile(s.clinics, []byte(withQuota), 0o600); err != nil {
		t.Fatal(err)
	}
	scheduler := s.start("scheduler")
	s.start("worker")

	phone := func(clinic string, i int) string {
		if clinic == "sol" {
			return fmt.Sprintf("+5255555508%02d", i)
		}
		return fmt.Sprintf("+4477009008%02d", i)
	}
	var harbour, sol []string
	for i := range 8 {
		harbour = append(harbour, event(fmt.Sprintf("h%d", i), fmt.Sprintf("h%d", i), "completed", phone("harbour", i), time.Now()))
		sol = append(sol, event(fmt.Sprintf("m%d", i), fmt.Sprintf("m%d", i), "completed", phone("sol", i), time.Now()))
	}
	statuses, answers := s.postAll(scheduler, token, harbour)
	accepted := 0
	for i, status := range statuses {
		switch {
		case status == http.StatusAccepted:
			accepted++
		case status != http.StatusTooManyRequests || !strings.Contains(answers[i], "5 texts a day for this clinic") || !strings.Contains(answers[i], day):
			t.Errorf("harbour session %d: %d %s; want 202, or 429 naming the clinic's quota of 5 and %s", i, status, answers[i], day)
		}
	}
	if accepted != 5 {
		t.Errorf("harbour: %d accepted, want 5", accepted)
	}
	statuses, answers = s.postAll(scheduler, solToken, sol)
	for i, status := range statuses {
		if status != http.StatusAccepted {
			t.Errorf("sol session %d: %d %s; another clinic's quota must not touch it", i, status, answers[i])
		}
	}

	texted := func(clinic string) int {
		n := 0
		for i := range 8 {
			n += len(s.messagesTo(phone(clinic, i), 1, 0))
		}
		return n
	}
	waitFor(t, 15*time.Second, "5 texts from harbour and 8 from sol", func() bool { return texted("harbour") >= 5 && texted("sol") >= 8 })
	time.Sleep(3 * time.Second)
	if h, m := texted("harbour"), texted("sol"); h != 5 || m != 8 {
		t.Errorf("texts: harbour %d, sol %d; want 5 and 8", h, m)
	}
	s.wantMetrics(scheduler, `aftercare_quota_refusals_total{clinic="harbour",quota="clinic"} 3`)
}

// A session that ended 30 hours before its event arrives: day 1 (24 h) was
// due 6 hours before, so it is not texted at all, only the steps still
// ahead; the clinic sees why. A session whose steps were all due before its
// event is accepted, texts nothing, and the answer says so.
func TestBackdatedSessionTextsOnlyWhatIsAhead(t *testing.T) {
	t.Parallel()
	s := setup(t, "24h,30h0m4s,30h0m6s")
	scheduler := s.start("scheduler")
	s.start("worker")

	const client, old = "+447700900851", "+447700900852"
	s.post(scheduler, event("b1", "b1", "completed", client, time.Now().Add(-30*time.Hour)))
	status, out := s.call(scheduler, http.MethodPost, "/v1/sessions", token, event("b2", "b2", "completed", old, time.Now().Add(-40*time.Hour)))
	var acc struct {
		Note string `json:"note"`
	}
	if status != http.StatusAccepted || json.Unmarshal(out, &acc) != nil || !strings.Contains(acc.Note, "no follow-up will be texted") {
		t.Errorf("all steps past: %d %s; want 202 with a note that nothing will be texted", status, out)
	}

	got := s.messagesTo(client, 2, 15*time.Second)
	time.Sleep(2 * time.Second)
	got = s.messagesTo(client, 3, 0)
	if len(got) != 2 {
		t.Fatalf("%d texts, want 2 (day 2 and 3)", len(got))
	}
	for i, m := range got {
		if want := fmt.Sprintf("Harbour Massage: Day %d", i+2); !strings.HasPrefix(m.Body, want) {
			t.Errorf("text %d: %q, want %q", i+1, m.Body, want)
		}
	}
	if n := len(s.messagesTo(old, 1, 0)); n != 0 {
		t.Errorf("the session 40 hours old got %d texts, want none", n)
	}
	var view struct {
		FollowUps []struct{ Status, Reason string } `json:"follow_ups"`
	}
	s.getJSON(scheduler, "/v1/sessions/b1", token, &view)
	if len(view.FollowUps) != 3 || view.FollowUps[0].Status != "skipped" || view.FollowUps[0].Reason != "due before the session event arrived" {
		t.Errorf("clinic's view of b1: %+v; want day 1 skipped as due before the session event arrived", view.FollowUps)
	}
	view.FollowUps = nil
	s.getJSON(scheduler, "/v1/sessions/b2", token, &view)
	for _, f := range view.FollowUps {
		if f.Status != "skipped" {
			t.Errorf("clinic's view of b2: %+v; want every step skipped", view.FollowUps)
			break
		}
	}
}
