package housekeeping_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/housekeeping"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// Review: retention of a clinic's texts expires a client whose last
// session and last text are past the clinic's age, "but only of what is
// older" (erasure.Service.Expire). The inbox conversation is erased whole
// (inbox.Store.EraseConversation takes no age): a staff reply written an
// hour ago to a client who last texted 11 days ago (a clinic keeping texts
// 10 days) goes with its outbox job, so it is never sent, and the staff
// member is not told.
func TestReviewRetentionKeepsAStaffReplyWrittenSinceTheClientsLastText(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	now := time.Now()
	day := 24 * time.Hour
	phone := "+447700900711"
	last := now.Add(-11 * day)
	if err := st.NoteClientSession(ctx, "harbour", phone, aftercare.ClientSession{SessionID: "s711", End: last}, last); err != nil {
		t.Fatal(err)
	}
	in := aftercare.InboundSMS{MessageSID: "SM711", From: phone, To: "+447700900100", Body: "still a bit stiff", ClinicID: "harbour", ReceivedAt: last}
	if _, err := st.SaveReply(ctx, aftercare.Reply{InboundSMS: in}, 0); err != nil {
		t.Fatal(err)
	}
	box := &inbox.Store{S: st, Clinics: natsjstest.Clinics(t), Steps: 3}
	conv := inbox.Conversation{Summary: inbox.Summary{ID: inbox.ConversationID("harbour", phone), ClinicID: "harbour", Phone: phone}}
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_dana", Name: "Dana"}
	if _, err := box.Reply(ctx, conv, "Following up on your message: is the stiffness easing?", dana, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: box, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	r := &housekeeping.Retention{Store: st, Erasure: svc,
		Clinics: []aftercare.Clinic{{ID: "harbour", Retention: aftercare.Retention{TextsFor: 10 * day}}},
		Texts:   30 * day, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 10, Now: clock, Log: natsjstest.Logger()}
	res, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Clients != 1 {
		t.Fatalf("retention expired %d clients, want the one last seen 11 days ago", res.Clients)
	}
	outs, err := box.Outbound(ctx, "harbour", conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 {
		t.Errorf("%d staff replies after retention, want the one written an hour ago kept", len(outs))
	}
	if n := env.Count(t, natsjs.StreamOutbox, "outbox.harbour"); n != 1 {
		t.Errorf("%d outbox jobs after retention, want the hour-old reply's still queued", n)
	}
}
