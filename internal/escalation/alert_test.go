package escalation_test

import (
	"context"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// The minimum necessary: by default the on-call text and the backup's text
// say only that an escalation needs attention, link to the conversation in
// the inbox and keep the ACK code, with no client number and none of the
// reply's words; the email links there too. A clinic with alert_details
// gets the number and the reason on the text as well.
func TestAlertSaysOnlyThatAnEscalationNeedsAttention(t *testing.T) {
	t.Parallel()
	link := "https://aftercare.example/inbox/c/" + aftercare.ConversationID("harbour", client)
	for _, details := range []bool{false, true} {
		b := setupChain(t, func(c *aftercare.Clinic) {
			c.InboxURL = "https://aftercare.example/inbox/"
			c.AlertDetails = details
		})
		e := b.raise(t, "esc_SM1")
		for _, step := range []int{1, 2} {
			if err := b.chain.Fire(context.Background(), natsjs.ChainTimer{ClinicID: "harbour", EscalationID: e.ID, Step: step}, 1); err != nil {
				t.Fatal(err)
			}
		}
		texts := b.stand.Messages()
		if len(texts) != 2 || texts[0].To != onCall || texts[1].To != backup {
			t.Fatalf("alert_details %v: texts %+v, want the on-call's and the backup's", details, texts)
		}
		for _, m := range texts {
			for _, want := range []string{"Harbour Massage aftercare", "Reply ACK " + e.AckCode + " to take it", "Ref " + e.ID, "Open " + link + " (sign in)."} {
				if !strings.Contains(m.Body, want) {
					t.Errorf("alert_details %v: text to %s %q lacks %q", details, m.To, m.Body, want)
				}
			}
			if details {
				if !strings.Contains(m.Body, "client "+client) || !strings.Contains(m.Body, "calf swollen") {
					t.Errorf("alert_details on: text to %s %q lacks the number or the reason", m.To, m.Body)
				}
				continue
			}
			for _, private := range []string{"447700900123", "calf", "swollen", "red flag", "red_flag"} {
				if strings.Contains(m.Body, private) {
					t.Errorf("alert_details off: text to %s %q holds %q", m.To, m.Body, private)
				}
			}
		}
		mails := b.mail.Mails()
		if len(mails) != 1 {
			t.Fatalf("alert_details %v: %d emails, want one", details, len(mails))
		}
		// The body is quoted-printable: soft line breaks would split the link.
		body, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(mails[0].Data)))
		if err != nil || !strings.Contains(string(body), "Open it in the inbox ("+link+")") || strings.Contains(string(body), "447700900123") {
			t.Errorf("alert_details %v: email %s (%v), want the link %s and no number", details, body, err, link)
		}
	}
}

// Without an inbox URL the alert still holds nothing of the client and
// says where to look.
func TestAlertWithoutInboxURL(t *testing.T) {
	t.Parallel()
	b := setupChain(t)
	e := b.raise(t, "esc_SM2")
	texts := b.stand.Messages()
	if len(texts) != 1 || !strings.Contains(texts[0].Body, "an escalation needs attention. Open it in the inbox. Reply ACK "+e.AckCode) ||
		strings.Contains(texts[0].Body, "447700900123") || strings.Contains(texts[0].Body, "calf") {
		t.Fatalf("on-call alert %+v", texts)
	}
}
