package systemtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

const (
	bookingSecret = "booking-webhook-key-0000000001"
	squareToken   = "EAAAsquare-token-000000000001"
	squareHook    = publicBase + "/v1/hooks/square/harbour"
)

// bookingClinics rewrites the clinics file so harbour takes all five booking
// systems' webhooks, with Square's and Acuity's APIs at api.
func (s *system) bookingClinics(t *testing.T, api string) {
	var doc struct {
		Clinics []map[string]any `json:"clinics"`
	}
	if err := json.Unmarshal([]byte(fmt.Sprintf(clinicsJSON, s.clinic.URL)), &doc); err != nil {
		t.Fatal(err)
	}
	doc.Clinics[0]["booking"] = map[string]any{
		"calcom":   map[string]string{"secret_env": "BOOKING_KEY"},
		"calendly": map[string]string{"secret_env": "BOOKING_KEY"},
		"square":   map[string]string{"secret_env": "BOOKING_KEY", "notification_url": squareHook, "api_base_url": api, "api_token_env": "SQUARE_TOKEN"},
		"mindbody": map[string]string{"secret_env": "BOOKING_KEY", "time_zone": "Europe/London"},
		"acuity":   map[string]string{"secret_env": "BOOKING_KEY", "api_base_url": api, "api_user_id": "11145481"},
	}
	raw, _ := json.Marshal(doc)
	if err := os.WriteFile(s.clinics, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// samples are the booking package's testdata, moved to now and given each
// system its own client phone.
type samples struct {
	start, end time.Time
}

func (sm samples) load(t *testing.T, file, phoneDigits string) []byte {
	raw, err := os.ReadFile("../booking/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	s = strings.ReplaceAll(s, "2026-11-24T15:00:00", sm.start.UTC().Format("2006-01-02T15:04:05"))
	s = strings.ReplaceAll(s, "2026-11-24T16:00:00", sm.end.UTC().Format("2006-01-02T15:04:05"))
	return []byte(strings.ReplaceAll(s, "900123", phoneDigits))
}

func hmac256(parts ...string) []byte {
	m := hmac.New(sha256.New, []byte(bookingSecret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func (s *system) bookingHook(t *testing.T, scheduler *program, system string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+scheduler.addr+"/v1/hooks/"+system+"/harbour", strings.NewReader(string(body)))
	switch system {
	case "calcom":
		req.Header.Set("X-Cal-Signature-256", hex.EncodeToString(hmac256(string(body))))
	case "calendly":
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("Calendly-Webhook-Signature", "t="+ts+",v1="+hex.EncodeToString(hmac256(ts+"."+string(body))))
	case "square":
		req.Header.Set("X-Square-Hmacsha256-Signature", base64.StdEncoding.EncodeToString(hmac256(squareHook+string(body))))
	case "mindbody":
		req.Header.Set("X-Mindbody-Signature", "sha256="+base64.StdEncoding.EncodeToString(hmac256(string(body))))
	case "acuity":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Acuity-Signature", base64.StdEncoding.EncodeToString(hmac256(string(body))))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("%s webhook: %d", system, res.StatusCode)
	}
}

// A session pushed through any booking system's webhook gets the same three
// follow-ups, due at the same times, as one pushed through our own API.
func TestBookingSystemsPlanLikeOurAPI(t *testing.T) {
	t.Parallel()
	// Every step is due after its event is planned: a step already due is
	// planned for "now", which would differ from session to session.
	s := setup(t, "3s,4s,5s")
	sm := samples{end: time.Now().Truncate(time.Second)}
	sm.start = sm.end.Add(-time.Hour)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/customers/EX2QSVGTZN4K1E5QE1CBFNVQ8M" && r.Header.Get("Authorization") == "Bearer "+squareToken:
			_, _ = w.Write(sm.load(t, "square_customer.json", "900203"))
		case r.URL.Path == "/v2/locations/L8GWT3TBYYPY9" && r.Header.Get("Authorization") == "Bearer "+squareToken:
			_, _ = w.Write(sm.load(t, "square_location.json", ""))
		case r.URL.Path == "/api/v1/appointments/5541":
			if user, key, ok := r.BasicAuth(); !ok || user != "11145481" || key != bookingSecret {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			_, _ = w.Write(sm.load(t, "acuity_appointment_5541.json", "900205"))
		default:
			http.Error(w, "not found", http.StatusNotFound)
		}
	}))
	t.Cleanup(api.Close)
	s.bookingClinics(t, api.URL)
	scheduler := s.start("scheduler", "BOOKING_KEY="+bookingSecret, "SQUARE_TOKEN="+squareToken)
	s.start("worker")

	sessions := map[string]string{ // phone -> our session id
		"+447700900200": "ours",
		"+447700900201": "calcom:bFJeNb2uX8ANpT3JL5EfXw",
		"+447700900202": "calendly:GBGBDCAADAEDCRZ2:AAAAAAAAAAAAAAAA",
		"+447700900203": "square:zkras0xv0xwswx",
		"+447700900204": "mindbody:123:121",
		"+447700900205": "acuity:5541",
	}
	s.post(scheduler, event("ours", "ours", "completed", "+447700900200", sm.end))
	s.bookingHook(t, scheduler, "calcom", sm.load(t, "calcom_meeting_ended.json", "900201"))
	s.bookingHook(t, scheduler, "calendly", sm.load(t, "calendly_invitee_created.json", "900202"))
	s.bookingHook(t, scheduler, "square", sm.load(t, "square_booking_created.json", "900203"))
	s.bookingHook(t, scheduler, "mindbody", sm.load(t, "mindbody_appointment_created.json", "900204"))
	s.bookingHook(t, scheduler, "acuity", sm.load(t, "acuity_scheduled.form", "900205"))

	store, _ := s.store()
	var ours []aftercare.FollowUp
	waitFor(t, 5*time.Second, "our API's plan", func() bool {
		ours, _ = store.FollowUps(context.Background(), "harbour", "ours", 3)
		return len(ours) == 3
	})
	for phone, session := range sessions {
		got := s.messagesTo(phone, 3, 15*time.Second)
		if len(got) != 3 {
			t.Errorf("%s: %d texts, want 3", session, len(got))
		}
		for i, m := range got {
			if !strings.Contains(m.Body, fmt.Sprintf("Day %d", i+1)) {
				t.Errorf("%s text %d: %q", session, i+1, m.Body)
			}
		}
		plan, err := store.FollowUps(context.Background(), "harbour", session, 3)
		if err != nil || len(plan) != 3 {
			t.Errorf("%s: plan %v %v", session, plan, err)
			continue
		}
		for i := range plan {
			if !plan[i].DueAt.Equal(ours[i].DueAt) {
				t.Errorf("%s step %d due %v, our API's %v", session, i+1, plan[i].DueAt, ours[i].DueAt)
			}
		}
	}
}

// A clinic's api_base_url is held to the escalation webhook's rules: with
// loopback not allowed, Square's API on 127.0.0.1 is never called and the
// webhook is answered 502 (Square retries), and a redirect is not followed.
func TestBookingAPIReachesNoInternalAddress(t *testing.T) {
	t.Parallel()
	s := setup(t, "3s,4s,5s")
	sm := samples{end: time.Now().Truncate(time.Second)}
	sm.start = sm.end.Add(-time.Hour)
	var calls atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(api.Close)
	s.bookingClinics(t, api.URL)
	for _, allow := range []string{"false", "true"} {
		scheduler := s.start("scheduler", "BOOKING_KEY="+bookingSecret, "SQUARE_TOKEN="+squareToken, "BOOKING_API_ALLOW_LOOPBACK="+allow)
		body := sm.load(t, "square_booking_created.json", "900203")
		req, _ := http.NewRequest(http.MethodPost, "http://"+scheduler.addr+"/v1/hooks/square/harbour", strings.NewReader(string(body)))
		req.Header.Set("X-Square-Hmacsha256-Signature", base64.StdEncoding.EncodeToString(hmac256(squareHook+string(body))))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("loopback allowed %s: webhook answered %d, want 502", allow, res.StatusCode)
		}
		want := int64(0)
		if allow == "true" {
			want = 1 // called once; its redirect to cloud metadata not followed
		}
		if got := calls.Swap(0); got != want {
			t.Errorf("loopback allowed %s: the API on 127.0.0.1 was called %d times, want %d", allow, got, want)
		}
	}
}
