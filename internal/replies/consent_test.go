package replies_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Opt-outs and opt-ins by text are entries of the client's consent record,
// with the time the text reached us, its channel (a keyword, or a request
// in plain words) and its SID, after the consent their session gave; the
// record is kept after the opt-out, as evidence.
func TestOptOutsAndOptInsJoinTheConsentRecord(t *testing.T) {
	b := setup(t)
	const phone = "+447700900131"
	end := b.clock.Now().Add(-25 * time.Hour)
	agreed := &aftercare.Consent{At: end.Add(-48 * time.Hour), Channel: "web_form", Wording: "I agree to aftercare texts", Source: "api"}
	ev := aftercare.SessionEvent{EventID: "e-c1", ClinicID: "harbour", SessionID: "c1", Kind: aftercare.KindCompleted,
		SessionEnd: &end, Client: &aftercare.Client{Phone: phone, TimeZone: "Europe/London"}, Consent: agreed}
	if err := b.planner.Apply(context.Background(), 1, ev); err != nil {
		t.Fatal(err)
	}
	stop := b.reply(t, phone, "STOP")
	start := b.reply(t, phone, "start")
	plain := b.reply(t, phone, "please don't text me anymore")

	rec, err := b.env.Store.Consent(context.Background(), "harbour", phone)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind    aftercare.ConsentKind
		channel string
		reply   aftercare.Reply
	}{
		{aftercare.ConsentGiven, "web_form", aftercare.Reply{}},
		{aftercare.ConsentOptOut, aftercare.ChannelSMSKeyword, stop},
		{aftercare.ConsentOptIn, aftercare.ChannelSMSKeyword, start},
		{aftercare.ConsentOptOut, aftercare.ChannelSMSPlainWords, plain},
	}
	if len(rec.Entries) != len(want) {
		t.Fatalf("consent record %+v: want %d entries", rec.Entries, len(want))
	}
	for i, w := range want {
		e := rec.Entries[i]
		if e.Kind != w.kind || e.Channel != w.channel || e.MessageSID != w.reply.MessageSID || (w.reply.MessageSID != "" && !e.At.Equal(w.reply.ReceivedAt)) {
			t.Errorf("entry %d %+v: want %s by %s at %v (%s)", i, e, w.kind, w.channel, w.reply.ReceivedAt, w.reply.MessageSID)
		}
	}
	if rec.Entries[0].Wording != agreed.Wording || !rec.Entries[0].At.Equal(agreed.At) || rec.Consented() {
		t.Errorf("record %+v: want the agreement kept, and no consent after the last opt-out", rec)
	}
	// A redelivered STOP is recorded once.
	in := aftercare.InboundSMS{MessageSID: stop.MessageSID, ClinicID: "harbour", From: phone, To: "+447700900100", Body: "STOP", ReceivedAt: stop.ReceivedAt}
	if err := b.processor.Process(context.Background(), in, 2); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.env.Store.Consent(context.Background(), "harbour", phone); len(again.Entries) != len(want) {
		t.Errorf("after a redelivered STOP: %d entries, want %d", len(again.Entries), len(want))
	}
}
