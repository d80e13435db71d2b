package inbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/sendrate"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
	"github.com/nats-io/nats.go/jetstream"
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

// A reply that must wait for the send window leaves the outbox consumer
// on a timer of its own: its ack-pending place is freed at once, and each
// reply comes back (two deferred in one conversation do not replace each
// other's timer).
func TestWaitingRepliesLeaveTheConsumerOnTimers(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	store := &inbox.Store{S: env.Store, Clinics: natsjstest.Clinics(t), Steps: 3}
	cons, err := natsjs.OutboxConsumer(ctx, env.Store.JetStream(), 30*time.Second, 8)
	if err != nil {
		t.Fatal(err)
	}
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_1", Name: "Dana"}
	conv := inbox.Conversation{Summary: inbox.Summary{ID: inbox.ConversationID("harbour", "+447700900005"), ClinicID: "harbour", Phone: "+447700900005"}}
	for i := range 2 {
		if _, err := store.Reply(ctx, conv, "Please call us.", dana, time.Now().Add(time.Duration(i))); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(2 * time.Second)
	for msg := range batch.Messages() {
		if err := store.Defer(ctx, msg, until); err != nil {
			t.Fatal(err)
		}
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("after deferring: %+v %v", info, err)
	}
	back, err := cons.Fetch(2, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for msg := range back.Messages() {
		ids[string(msg.Data())] = true
		if time.Now().Before(until) {
			t.Errorf("back before its time")
		}
	}
	if len(ids) != 2 {
		t.Errorf("%d replies came back, want 2", len(ids))
	}
}

// Staff replies share the clinic's sender rate with its tips: past the
// rate, a reply is handed back to wait for a slot, not sent.
func TestStaffRepliesTakeTheSendersRate(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store := &inbox.Store{S: env.Store, Clinics: natsjstest.Clinics(t), Steps: 3}
	// One text an hour, no burst: the second reply has no slot within 5 s.
	pacer := sendrate.New(env.Store, func(err error) bool { return errors.Is(err, natsjs.ErrConflict) }, 1.0/3600, 1, 5*time.Second)
	s := &inbox.Sender{Store: store, SMS: sender, Pacer: pacer, Now: time.Now, Log: natsjstest.Logger()}
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_1", Name: "Dana"}
	var results []error
	for _, phone := range []string{"+447700900006", "+447700900007"} {
		conv := inbox.Conversation{Summary: inbox.Summary{ID: inbox.ConversationID("harbour", phone), ClinicID: "harbour", Phone: phone}}
		o, err := store.Reply(ctx, conv, "Please call us.", dana, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, s.Send(ctx, "harbour", o.ConversationID, o.ID, 1))
	}
	action, _, _ := jobs.Outcome(results[1])
	if results[0] != nil || action != "snooze" || stand.Count() != 1 {
		t.Errorf("results %v (second: %s), %d at Twilio; want the first sent, the second handed back", results, action, stand.Count())
	}
}

// The same reply form sent twice (a double click) queues one reply; a
// reply that keeps failing is marked failed after its attempts, counted on
// its record (a reply back from a timer starts a new delivery count).
func TestRepliesAreQueuedOnceAndGiveUp(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	store := &inbox.Store{S: env.Store, Clinics: natsjstest.Clinics(t), Steps: 3}
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_1", Name: "Dana"}
	conv := inbox.Conversation{Summary: inbox.Summary{ID: inbox.ConversationID("harbour", "+447700900008"), ClinicID: "harbour", Phone: "+447700900008"}}
	nonce := inbox.NewNonce()
	first, err := store.Reply(ctx, conv, "Please call us.", dana, time.Now(), nonce)
	if err != nil {
		t.Fatal(err)
	}
	again, err := store.Reply(ctx, conv, "Please call us.", dana, time.Now(), nonce)
	if err != nil || again.ID != first.ID {
		t.Fatalf("sent again: %+v %v", again, err)
	}
	if outs, err := store.Outbound(ctx, "harbour", conv.ID); err != nil || len(outs) != 1 {
		t.Fatalf("%d replies queued (%v), want 1", len(outs), err)
	}

	// Twilio is down (nothing listens): every try fails and is retried.
	stand := twiliotest.NewServer()
	stand.Close()
	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := &inbox.Sender{Store: store, SMS: sender, Now: time.Now, Log: natsjstest.Logger()}
	var last error
	for range 10 {
		last = s.Send(ctx, "harbour", conv.ID, first.ID, 1) // always "attempt 1", as after a timer
		if last == nil {
			break
		}
	}
	outs, _ := store.Outbound(ctx, "harbour", conv.ID)
	if last != nil || len(outs) != 1 || outs[0].Status != "failed" || outs[0].Attempts != 8 {
		t.Errorf("after 10 tries: %v, %+v; want failed after 8 attempts", last, outs)
	}
}
