package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/dispatch"
)

// A clinic that requires consent: a client with none on record is not
// texted, and the follow-up says why (skipped, not silently dropped); an
// event's consent, or the client's START, lets the texts go; a STOP after
// consenting stops them again, and the record keeps every entry.
func TestRequireConsent(t *testing.T) {
	t.Parallel()
	const phone = "+447700900123"
	tests := []struct {
		name    string
		consent *aftercare.Consent
		prepare func(t *testing.T, b bundle)
		sent    bool
		reason  string
		entries int
	}{
		{name: "no consent on record", reason: dispatch.SkipNoConsent},
		{name: "consent in the session event", consent: &aftercare.Consent{At: sessionEnd.Add(-72 * time.Hour), Channel: "web_form",
			Wording: "I agree to aftercare texts", Source: "api"}, sent: true, entries: 1},
		{name: "the client texted START", prepare: func(t *testing.T, b bundle) {
			optIn := aftercare.ConsentEntry{Kind: aftercare.ConsentOptIn, At: sessionEnd, Channel: aftercare.ChannelSMSKeyword, MessageSID: "SM1"}
			if err := b.env.Store.RecordOptOut(context.Background(), "harbour", phone, optIn, sessionEnd); err != nil {
				t.Fatal(err)
			}
		}, sent: true, entries: 1},
		{name: "STOP after consenting", consent: &aftercare.Consent{At: sessionEnd.Add(-72 * time.Hour), Channel: "paper_form"},
			prepare: func(t *testing.T, b bundle) {
				stop := aftercare.ConsentEntry{Kind: aftercare.ConsentOptOut, At: sessionEnd, Channel: aftercare.ChannelSMSPlainWords, MessageSID: "SM2"}
				if err := b.env.Store.RecordOptOut(context.Background(), "harbour", phone, stop, sessionEnd); err != nil {
					t.Fatal(err)
				}
			}, reason: "client opted out", entries: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			clinic, _ := b.dispatcher.Clinics.Lookup("harbour")
			clinic.RequireConsent = true
			ev := aftercare.SessionEvent{EventID: "e1", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindCompleted,
				SessionEnd: ptr(sessionEnd), Client: &aftercare.Client{Phone: phone, TimeZone: "Europe/London"}, Consent: tt.consent}
			if err := b.planner.Apply(context.Background(), 1, ev); err != nil {
				t.Fatal(err)
			}
			if tt.prepare != nil {
				tt.prepare(t, b)
			}
			f := b.record(t, "harbour")
			b.clock.Advance(f.DueAt.Sub(b.clock.Now()))
			outcome(t, b.dispatcher.Send(context.Background(), aftercare.DueFollowUp{ClinicID: "harbour", SessionID: "s1", Step: 1, PlanVersion: 1, DueAt: f.DueAt}), "ack")
			f = b.record(t, "harbour")
			if got := len(b.twilio.Messages()) == 1; got != tt.sent || (tt.sent && f.Status != aftercare.FollowUpSent) {
				t.Fatalf("sent %v (record %s %q), want %v", got, f.Status, f.Reason, tt.sent)
			}
			if !tt.sent && (f.Status != aftercare.FollowUpSkipped || f.Reason != tt.reason) {
				t.Errorf("record %s %q, want skipped: %q", f.Status, f.Reason, tt.reason)
			}
			rec, err := b.env.Store.Consent(context.Background(), "harbour", phone)
			if tt.entries == 0 && err == nil || tt.entries > 0 && (err != nil || len(rec.Entries) != tt.entries) {
				t.Errorf("consent record %+v %v, want %d entries", rec, err, tt.entries)
			}
		})
	}
}
