package replies_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
)

// A client's question is answered with when the clinic will reply (its
// reply_by) and what to do if it is urgent; staff read it in the inbox.
func TestQuestionAnsweredWithTheClinicsReplyTime(t *testing.T) {
	b := setup(t)
	harbour, _ := b.processor.Clinics.Lookup("harbour")
	c := harbour.Clinic
	c.ReplyBy = "by 6pm on weekdays"
	dir, err := clinics.New([]aftercare.Clinic{c})
	if err != nil {
		t.Fatal(err)
	}
	b.processor.Clinics = dir
	const phone = "+447700900123"
	b.session(t, 1, "s1", phone, b.clock.Now().Add(-25*time.Hour))
	rec := b.reply(t, phone, "can I take ibuprofen?")
	if rec.Class != "question" || !strings.Contains(rec.Answer, "will reply by 6pm on weekdays") || !strings.Contains(rec.Answer, "If it is urgent, call us on +442079460000") {
		t.Errorf("%s answered %q", rec.Class, rec.Answer)
	}
}
