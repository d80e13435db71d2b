package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// harbour with its own texts for deep-tissue sessions, in English.
const textsClinicJSON = `{"clinics":[{"id":"harbour","name":"Harbour Massage","time_zone":"Europe/London",
 "send_window":"* * * * *","locale":"en","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
 "rebook_url":"https://harbour.example/book","intake_token_env":"HARBOUR_TOKEN",
 "escalation":{"on_call_phone":"+447700900199","webhook_url":"%s","webhook_secret_env":"HARBOUR_WEBHOOK_SECRET"},
 "texts":{"deep_tissue":{"en":[
  "Hi {first_name}, {clinic} ({clinic_phone}): deep tissue day 1, drink water. Pain 0-10 or WORSE? Rebook {rebook_url} Reply STOP to opt out",
  "{clinic} ({clinic_phone}): deep tissue day 2, ice then heat. Pain 0-10 or WORSE? %s",
  "{clinic} ({clinic_phone}): deep tissue day 3, stretch gently. Pain 0-10 or WORSE? Reply STOP to opt out"]}}}]}`

// Texts per clinic and service against the real programs: a deep-tissue
// session gets the clinic's own texts, merged with the client's first name,
// the clinic's number and its rebooking link; a session of another service
// gets the built-in texts, which name the clinic's number too.
func TestClinicsOwnTextsPerService(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(textsClinicJSON, s.clinic.URL, "Reply STOP to opt out")), 0o600); err != nil {
		t.Fatal(err)
	}
	scheduler := s.start("scheduler")
	s.start("worker")
	post := func(id, session, service, phone string) {
		b, _ := json.Marshal(map[string]any{"event_id": id, "session_id": session, "kind": "completed", "service": service,
			"session_end": time.Now().UTC().Format(time.RFC3339Nano),
			"client":      map[string]string{"phone": phone, "name": "Sam Jones", "time_zone": "Europe/London", "locale": "en-GB"}})
		s.post(scheduler, string(b))
	}
	post("e1", "deep", "deep_tissue", "+447700900401")
	post("e2", "other", "sports_massage", "+447700900402")

	deep := s.messagesTo("+447700900401", 3, 20*time.Second)
	want := []string{
		"Hi Sam, Harbour Massage (+442079460000): deep tissue day 1, drink water. Pain 0-10 or WORSE? Rebook https://harbour.example/book Reply STOP to opt out",
		"Harbour Massage (+442079460000): deep tissue day 2, ice then heat. Pain 0-10 or WORSE? Reply STOP to opt out",
		"Harbour Massage (+442079460000): deep tissue day 3, stretch gently. Pain 0-10 or WORSE? Reply STOP to opt out",
	}
	if len(deep) != 3 {
		t.Fatalf("%d texts for the deep-tissue session, want 3", len(deep))
	}
	for i, m := range deep {
		if m.Body != want[i] {
			t.Errorf("deep tissue day %d:\n got %q\nwant %q", i+1, m.Body, want[i])
		}
	}
	other := s.messagesTo("+447700900402", 3, 20*time.Second)
	if len(other) != 3 {
		t.Fatalf("%d texts for the other session, want 3", len(other))
	}
	for i, m := range other {
		if !strings.HasPrefix(m.Body, fmt.Sprintf("Harbour Massage: Day %d", i+1)) || !strings.Contains(m.Body, "Tel +442079460000. Reply STOP to opt out") {
			t.Errorf("built-in day %d: %q", i+1, m.Body)
		}
	}
}

// A clinic text that drops the opt-out hint stops both programs at start,
// naming the clinic and the text.
func TestClinicTextWithoutOptOutDoesNotStart(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(textsClinicJSON, s.clinic.URL, "Call us!")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"scheduler", "worker"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, name))
		cmd.Env = []string{"NATS_URL=" + s.natsURL, "HTTP_ADDR=127.0.0.1:0", "CLINICS_FILE=" + s.clinics, "HARBOUR_TOKEN=" + token,
			"HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "ALLOW_ANY_SEND_WINDOW=true", "SMS_DRIVER=console", "INBOUND_SPOOL_DIR=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(string(out), `clinic "harbour": texts.deep_tissue.en day 2: must keep the opt-out hint "Reply STOP to opt out"`) {
			t.Errorf("%s with a text lacking the opt-out hint: %v\n%s", name, err, out)
		}
	}
}
