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
	"github.com/aftercare/aftercare/internal/dispatch"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// Consent against the real programs, for a clinic that requires it: an
// event without consent is accepted with a note saying why no text will
// go, and its follow-ups are skipped with that reason (GET
// /v1/sessions/{id}); an event with consent is texted, its consent shown
// by the session and by GET /v1/clients/{phone}/consent, where the
// client's STOP joins it, kept as evidence after the opt-out.
func TestConsentRecordedAndRequired(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	doc := strings.Replace(clinicsJSON, `"intake_token_env":"HARBOUR_TOKEN",`, `"intake_token_env":"HARBOUR_TOKEN","require_consent":true,`, 1)
	if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(doc, s.clinic.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const without, with = "+447700900541", "+447700900542"
	post := func(id, session, phone string, consent map[string]string) intake.Accepted {
		ev := map[string]any{"event_id": id, "session_id": session, "kind": "completed", "session_end": time.Now().UTC().Format(time.RFC3339Nano),
			"client": map[string]string{"phone": phone, "time_zone": "Europe/London", "locale": "en"}}
		if consent != nil {
			ev["consent"] = consent
		}
		body, _ := json.Marshal(ev)
		status, out := s.call(scheduler, http.MethodPost, "/v1/sessions", token, string(body))
		var acc intake.Accepted
		if err := json.Unmarshal(out, &acc); status != http.StatusAccepted || err != nil {
			t.Fatalf("post %s: %d %s", id, status, out)
		}
		return acc
	}
	if acc := post("e1", "nc1", without, nil); acc.Note != intake.NoteNoConsent {
		t.Errorf("event without consent: note %q, want %q", acc.Note, intake.NoteNoConsent)
	}
	agreed := map[string]string{"at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "channel": "paper_form",
		"wording": "I agree to aftercare texts from Harbour Massage. Reply STOP to opt out."}
	if acc := post("e2", "c1", with, agreed); acc.Note != "" {
		t.Errorf("event with consent: note %q", acc.Note)
	}

	if got := s.messagesTo(with, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d texts to the client who consented, want the first tip", len(got))
	}
	var view httpapi.SessionView
	waitFor(t, 10*time.Second, "the follow-ups of the session without consent skipped", func() bool {
		status, out := s.call(scheduler, http.MethodGet, "/v1/sessions/nc1", token, "")
		view = httpapi.SessionView{}
		if status != http.StatusOK || json.Unmarshal(out, &view) != nil || len(view.FollowUps) != 3 {
			return false
		}
		for _, f := range view.FollowUps {
			if f.Status != aftercare.FollowUpSkipped {
				return false
			}
		}
		return true
	})
	if f := view.FollowUps[0]; f.Reason != dispatch.SkipNoConsent || view.Consent == nil || !view.Consent.Required || view.Consent.Consented {
		t.Errorf("session without consent: %+v, consent %+v", f, view.Consent)
	}
	for _, m := range s.twilio.Messages() {
		if m.To == without {
			t.Errorf("a text to the client without consent: %q", m.Body)
		}
	}

	s.text(worker, twiliotest.Inbound(newSID(), with, harbourNumber, "STOP"), "")
	var consent httpapi.ConsentView
	waitFor(t, 10*time.Second, "the STOP in the consent record", func() bool {
		status, out := s.call(scheduler, http.MethodGet, "/v1/clients/"+with+"/consent", token, "")
		consent = httpapi.ConsentView{}
		return status == http.StatusOK && json.Unmarshal(out, &consent) == nil && len(consent.Entries) == 2
	})
	given, stop := consent.Entries[0], consent.Entries[1]
	if consent.ClientPhone != with || consent.Consented || !consent.OptedOut ||
		given.Kind != aftercare.ConsentGiven || given.Channel != "paper_form" || given.Wording != agreed["wording"] || given.Source != "api" || given.SessionID != "c1" ||
		stop.Kind != aftercare.ConsentOptOut || stop.Channel != aftercare.ChannelSMSKeyword || stop.MessageSID == "" {
		t.Errorf("consent record %+v", consent)
	}
	// Another clinic's token does not see it; a number that is not one is 400.
	if status, out := s.call(scheduler, http.MethodGet, "/v1/clients/"+with+"/consent", solToken, ""); status != http.StatusBadRequest && (status != http.StatusOK || strings.Contains(string(out), "paper_form")) {
		t.Errorf("sol reading harbour's client: %d %s", status, out)
	}
	if status, out := s.call(scheduler, http.MethodGet, "/v1/clients/12/consent", token, ""); status != http.StatusBadRequest || !strings.Contains(string(out), "phone") {
		t.Errorf("a bad number: %d %s", status, out)
	}
}

// A clinic with confirm_first_text: a client's first session brings one
// short text naming the clinic, what to expect and how to stop, sent by the
// worker as the clinic's texts are; a second session brings none.
func TestConfirmationOnFirstSessionOnly(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	doc := strings.Replace(clinicsJSON, `"intake_token_env":"HARBOUR_TOKEN",`, `"intake_token_env":"HARBOUR_TOKEN","confirm_first_text":true,`, 1)
	if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(doc, s.clinic.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Two sessions' tips and the confirmation are seven texts in a day to
	// one client, past the default quota of six (which counts the
	// confirmation too).
	scheduler := s.start("scheduler", "QUOTA_TEXTS_PER_RECIPIENT_PER_DAY=7")
	s.start("worker")
	const client = "+447700900551"
	const confirmation = "Harbour Massage: we will text you aftercare tips over the next few days. Tel +442079460000. Reply STOP to opt out"
	confirmations := func() int {
		n := 0
		for _, m := range s.twilio.Messages() {
			if m.To == client && m.Body == confirmation {
				n++
			}
		}
		return n
	}
	s.post(scheduler, event("e1", "f1", "completed", client, time.Now()))
	if got := s.messagesTo(client, 4, 15*time.Second); len(got) != 4 || confirmations() != 1 || got[0].Body != confirmation || got[0].From != harbourNumber {
		t.Fatalf("first session: %d texts, %d confirmations, want the confirmation first and three tips: %+v", len(got), confirmations(), got)
	}
	s.post(scheduler, event("e2", "f2", "completed", client, time.Now()))
	if got := s.messagesTo(client, 7, 15*time.Second); len(got) != 7 || confirmations() != 1 {
		t.Fatalf("second session: %d texts, %d confirmations, want three more tips and no second confirmation", len(got), confirmations())
	}
}
