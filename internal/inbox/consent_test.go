package inbox_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/inbox"
)

// The conversation page shows the client's consent record: each agreement,
// opt-out and opt-in with its time, channel, source and wording, and where
// the client stands now.
func TestConversationShowsTheConsentRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const phone = "+447700900021"
	b.reply(t, "harbour", "SM21", phone, "other", "thanks", time.Hour, "s21")
	ctx := context.Background()
	agreed := aftercare.Consent{At: b.clock.Now().Add(-72 * time.Hour), Channel: "paper_form", Wording: "I agree to aftercare texts", Source: "front desk"}
	if err := b.env.Store.AddConsent(ctx, "harbour", phone, agreed.Entry("s21", b.clock.Now()), b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	br := b.login(t, "dana@harbour.example")
	if status := br.get("/inbox/c/" + inbox.ConversationID("harbour", phone)); status != http.StatusOK {
		t.Fatalf("conversation: %d", status)
	}
	for _, want := range []string{"<h2>Consent</h2>", "Consented to texts.", "given", "paper_form (front desk): “I agree to aftercare texts”"} {
		if !strings.Contains(br.page, want) {
			t.Errorf("the conversation page lacks %q:\n%s", want, br.page)
		}
	}
	stop := aftercare.ConsentEntry{Kind: aftercare.ConsentOptOut, At: b.clock.Now(), Channel: aftercare.ChannelSMSKeyword, Source: "sms", MessageSID: "SM22"}
	if err := b.env.Store.RecordOptOut(ctx, "harbour", phone, stop, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	br.get("/inbox/c/" + inbox.ConversationID("harbour", phone))
	if !strings.Contains(br.page, "Opted out: the latest entry withdraws consent.") || !strings.Contains(br.page, "opt_out") || !strings.Contains(br.page, "sms_keyword (sms)") {
		t.Errorf("after STOP, the page:\n%s", br.page)
	}
}
