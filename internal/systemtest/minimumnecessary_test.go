package systemtest

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// The minimum necessary, against the real programs: a red flag pages the
// on-call phone with a text that says only that an escalation needs
// attention, links to the conversation in the inbox and keeps the ACK code;
// no client number, none of their words. The link, opened signed out,
// leads to the inbox's login and back to the conversation.
func TestOnCallAlertCarriesALinkNotTheClient(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,5s,7s")
	doc := strings.Replace(clinicsJSON, `"intake_token_env":"HARBOUR_TOKEN",`, `"intake_token_env":"HARBOUR_TOKEN","inbox_url":"https://aftercare.example/inbox",`, 1)
	if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(doc, s.clinic.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const client = "+447700900531"
	s.post(scheduler, event("e1", "mn1", "completed", client, time.Now()))
	if got := s.messagesTo(client, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d first tips", len(got))
	}
	s.text(worker, twiliotest.Inbound(newSID(), client, harbourNumber, "worse today and my left leg is numb"), "")
	onCall := s.messagesTo("+447700900199", 1, 10*time.Second)
	if len(onCall) != 1 {
		t.Fatalf("on-call texts %+v, want the alert", onCall)
	}
	alert := onCall[0].Body
	path := "/inbox/c/" + aftercare.ConversationID("harbour", client)
	if !strings.Contains(alert, "an escalation needs attention. Open https://aftercare.example"+path+" (sign in).") || !ackCode.MatchString(alert) {
		t.Errorf("alert %q: want the link to %s and an ACK code", alert, path)
	}
	for _, private := range []string{client[1:], "numb", "leg", "red flag", "red_flag"} {
		if strings.Contains(alert, private) {
			t.Errorf("alert %q holds %q", alert, private)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get("http://" + scheduler.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/inbox/login?next="+url.QueryEscape(path) {
		t.Errorf("the link signed out: %d to %q, want the login page leading back", res.StatusCode, res.Header.Get("Location"))
	}
}
