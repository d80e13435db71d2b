package aftercare_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// A consent in a session event is checked whole: when, how, what was
// shown, who recorded it; every problem named at once.
func TestConsentIsValidated(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	end := now.Add(-time.Hour)
	event := func(c *aftercare.Consent) aftercare.SessionEvent {
		return aftercare.SessionEvent{EventID: "e1", SessionID: "s1", Kind: aftercare.KindCompleted, SessionEnd: &end,
			Client: &aftercare.Client{Phone: "+447700900123"}, Consent: c}
	}
	checks := aftercare.Checks{LoadZone: time.LoadLocation}
	good := event(&aftercare.Consent{At: now.Add(-72 * time.Hour), Channel: "web_form", Wording: "I agree to aftercare texts.\nReply STOP to opt out.", Source: "front desk"})
	if err := good.Validate(now, checks); err != nil {
		t.Fatalf("good consent refused: %v", err)
	}
	bad := event(&aftercare.Consent{At: now.Add(time.Hour), Channel: "Web Form", Wording: strings.Repeat("x", aftercare.MaxConsentWording+1), Source: "desk\x00"})
	err := bad.Validate(now, checks)
	for _, field := range []string{"consent.at", "consent.channel", "consent.wording", "consent.source"} {
		if err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("want %s named in %v", field, err)
		}
	}
	missing := event(&aftercare.Consent{})
	if err := missing.Validate(now, checks); err == nil || !strings.Contains(err.Error(), "consent.at: is required") || !strings.Contains(err.Error(), "consent.channel: is required") {
		t.Errorf("empty consent: %v", err)
	}
	cancelled := aftercare.SessionEvent{EventID: "e2", SessionID: "s1", Kind: aftercare.KindCancelled, Consent: good.Consent}
	if err := cancelled.Validate(now, checks); err == nil || !strings.Contains(err.Error(), "consent: needs client") {
		t.Errorf("consent without a client: %v", err)
	}
}

// A consent record is append-only evidence: an entry recorded twice (a
// redelivered event or text) is kept once; the latest word decides whether
// the client consents; past the bound, the first agreement stays.
func TestConsentRecord(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var r aftercare.ConsentRecord
	if r.Consented() {
		t.Fatal("an empty record consents")
	}
	given := aftercare.Consent{At: t0, Channel: "web_form", Wording: "I agree", Source: "api"}.Entry("s1", t0)
	if !r.Add(given) || r.Add(given) || len(r.Entries) != 1 || !r.Consented() {
		t.Fatalf("after adding an agreement twice: %+v", r)
	}
	stop := aftercare.ConsentEntry{Kind: aftercare.ConsentOptOut, At: t0.Add(time.Hour), Channel: aftercare.ChannelSMSKeyword, MessageSID: "SM1"}
	if !r.Add(stop) || r.Add(stop) || r.Consented() {
		t.Fatalf("after STOP: %+v", r)
	}
	// The same agreement again (a later session's event repeating it) does
	// not outweigh the STOP that came after it.
	if r.Add(aftercare.Consent{At: t0, Channel: "web_form", Wording: "I agree", Source: "api"}.Entry("s1", t0.Add(2*time.Hour))) || r.Consented() {
		t.Fatalf("an old agreement repeated after STOP: %+v", r)
	}
	if !r.Add(aftercare.ConsentEntry{Kind: aftercare.ConsentOptIn, At: t0.Add(2 * time.Hour), Channel: aftercare.ChannelSMSKeyword, MessageSID: "SM2"}) || !r.Consented() {
		t.Fatalf("after START: %+v", r)
	}
	for i := range aftercare.MaxConsentEntries {
		r.Add(aftercare.ConsentEntry{Kind: aftercare.ConsentOptOut, At: t0.Add(time.Duration(3+i) * time.Hour), Channel: aftercare.ChannelSMSKeyword, MessageSID: "SMx" + string(rune('a'+i%26)) + strings.Repeat("y", i)})
	}
	if len(r.Entries) != aftercare.MaxConsentEntries || r.Entries[0] != given {
		t.Errorf("%d entries, first %+v: want %d, the first agreement kept", len(r.Entries), r.Entries[0], aftercare.MaxConsentEntries)
	}
}
