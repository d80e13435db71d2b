package inbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// A staff reply goes out through the worker's checks: sent from the
// clinic's number, recorded with its status; not sent to a client who
// opted out; held until the send window opens.
func TestStaffRepliesRespectOptOutAndQuietHours(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// 12:00 UTC is 12:00 in London; the window is 09:00-17:59 there.
	clock := natsjstest.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	store := &inbox.Store{S: env.Store, Clinics: natsjstest.Clinics(t, "* 9-17 * * *"), Steps: 3}
	s := &inbox.Sender{Store: store, SMS: sender, StatusCallback: "https://example.test/v1/twilio/status", Now: clock.Now, Log: natsjstest.Logger()}
	ctx := context.Background()
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_1", Name: "Dana"}
	queue := func(phone string) inbox.Outbound {
		conv := inbox.Conversation{Summary: inbox.Summary{ID: inbox.ConversationID("harbour", phone), ClinicID: "harbour", Phone: phone}}
		o, err := store.Reply(ctx, conv, "Please call us.", dana, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond)
		return o
	}
	status := func(o inbox.Outbound) inbox.Outbound {
		outs, err := store.Outbound(ctx, "harbour", o.ConversationID)
		if err != nil || len(outs) != 1 {
			t.Fatalf("%v %v", outs, err)
		}
		return outs[0]
	}

	sent := queue("+447700900002")
	if err := s.Send(ctx, "harbour", sent.ConversationID, sent.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got := status(sent); got.Status != "sent" || got.SID == "" || stand.Count() != 1 {
		t.Fatalf("sent: %+v, %d at Twilio", got, stand.Count())
	}
	m := stand.Messages()[0]
	if m.From != "+447700900100" || m.To != "+447700900002" || m.Body != "Please call us." {
		t.Errorf("at Twilio: %+v", m)
	}
	// Its delivery status lands on it; a late "sent" does not undo it.
	for _, st := range []string{"delivered", "sent"} {
		if err := store.RecordStatus(ctx, aftercare.DeliveryStatus{MessageSID: m.SID, Status: st, ClinicID: "harbour", Outbound: sent.ConversationID + "." + sent.ID, ReceivedAt: clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if got := status(sent); got.Status != "delivered" {
		t.Errorf("after delivery: %+v", got)
	}
	// A redelivered job sends nothing more.
	if err := s.Send(ctx, "harbour", sent.ConversationID, sent.ID, 2); err != nil || stand.Count() != 1 {
		t.Errorf("redelivery: %v, %d at Twilio", err, stand.Count())
	}

	if err := env.Store.SetOptOut(ctx, "harbour", "+447700900003", true, clock.Now()); err != nil {
		t.Fatal(err)
	}
	out := queue("+447700900003")
	if err := s.Send(ctx, "harbour", out.ConversationID, out.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got := status(out); got.Status != "not_sent" || stand.Count() != 1 {
		t.Errorf("opted out: %+v, %d at Twilio", got, stand.Count())
	}

	clock.Advance(7 * time.Hour) // 19:00 in London: quiet hours
	late := queue("+447700900004")
	if err := s.Send(ctx, "harbour", late.ConversationID, late.ID, 1); err == nil {
		t.Fatal("sent in quiet hours")
	}
	if got := status(late); got.Status != "waiting" || stand.Count() != 1 {
		t.Errorf("quiet hours: %+v, %d at Twilio", got, stand.Count())
	}
	clock.Advance(14 * time.Hour) // 09:00 the next day
	if err := s.Send(ctx, "harbour", late.ConversationID, late.ID, 2); err != nil {
		t.Fatal(err)
	}
	if got := status(late); got.Status != "sent" || stand.Count() != 2 {
		t.Errorf("next morning: %+v, %d at Twilio", got, stand.Count())
	}
}
