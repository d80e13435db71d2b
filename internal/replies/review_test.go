package replies_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// Review: a client's text stored (replies.<clinic>) before their erasure
// and in the worker's hands while it runs is triaged after it: the reply
// processor never looks at the tombstone (the planner does), so the reply
// record, with the text's words, is written again once the erasure's
// passes are over, and survives the erasure.
func TestReviewReplyInHandDuringErasureSurvivesIt(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	const phone = "+447700900123"
	b.session(t, 1, "s1", phone, b.clock.Now().Add(-25*time.Hour))
	in := aftercare.InboundSMS{MessageSID: "SMreview000000000000000000000001", ClinicID: "harbour", From: phone, To: "+447700900100",
		Body: "a bit sore still but easing, 3", ReceivedAt: b.clock.Now()}
	if _, err := b.env.Store.PublishInbound(ctx, in); err != nil {
		t.Fatal(err)
	}
	// The clinic's DELETE; the job runs its passes and is done.
	directory := natsjstest.Clinics(t)
	svc := &erasure.Service{Store: b.env.Store, Inbox: &inbox.Store{S: b.env.Store, Clinics: directory, Steps: 3}, Steps: 3, Now: b.clock.Now,
		EscalationRetention: natsjs.DefaultEscalationRetention}
	if _, err := b.env.Store.SetErasing(ctx, "harbour", phone, "era_review"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Erase(ctx, "harbour", phone); err != nil {
		t.Fatal(err)
	}
	// The worker goes on with the text it had fetched before the erasure
	// deleted it from the stream; the job then takes the tombstone down.
	// Held while the tombstone stands (and, its stored message erased,
	// never handed back): a snooze, nothing written.
	if err := b.processor.Process(ctx, in, 1); err != nil {
		if action, _, _ := jobs.Outcome(err); action != "snooze" {
			t.Fatal(err)
		}
	}
	if err := b.env.Store.ClearErasing(ctx, "harbour", phone); err != nil {
		t.Fatal(err)
	}
	for _, hit := range natsjstest.Find(t, b.env.Conn.JS, []string{"KV_" + natsjs.BucketEscalations, natsjs.StreamEscalation, natsjs.StreamChain}, "447700900123", "sore still") {
		t.Errorf("after the erasure: %s", hit)
	}
}

// While a client is being erased, their STOP is still taken (the erasure
// keeps it, and nothing may text them after it) and a text that reports
// worsening still reaches the clinic; anything else is held.
func TestTextsTakenDuringAnErasure(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	const phone = "+447700900124"
	b.session(t, 1, "s1", phone, b.clock.Now().Add(-25*time.Hour))
	textN := func(sid, body string, attempt int) error {
		return b.processor.Process(ctx, aftercare.InboundSMS{MessageSID: sid, ClinicID: "harbour", From: phone, To: "+447700900100",
			Body: body, ReceivedAt: b.clock.Now()}, attempt)
	}
	text := func(sid, body string) error { return textN(sid, body, 1) }
	if err := text("SM"+strings.Repeat("0", 32), "pain 3/10 today"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.env.Store.SetErasing(ctx, "harbour", phone, "era_texts"); err != nil {
		t.Fatal(err)
	}
	if err := text("SM"+strings.Repeat("1", 32), "thanks, feeling fine"); err == nil {
		t.Error("a plain reply during the erasure was handled, want it held")
	} else if action, _, _ := jobs.Outcome(err); action != "snooze" {
		t.Errorf("a plain reply during the erasure: %v, want a snooze", err)
	}
	if err := text("SM"+strings.Repeat("2", 32), "much worse, my leg has gone numb"); err != nil {
		t.Fatal(err)
	}
	if list, err := b.env.Store.Escalations(ctx, "harbour"); err != nil || len(list) != 1 {
		t.Errorf("a worsening text during the erasure: %d escalations (%v), want 1", len(list), err)
	}
	if err := text("SM"+strings.Repeat("3", 32), "STOP"); err != nil {
		t.Fatal(err)
	}
	if out, err := b.env.Store.OptedOut(ctx, "harbour", phone); err != nil || !out {
		t.Errorf("STOP during the erasure: opted out %v (%v)", out, err)
	}
	// A bare score read against the last one: 3 then 8 is worsening.
	if err := text("SM"+strings.Repeat("4", 32), "8"); err != nil {
		t.Fatalf("a worsening bare score during the erasure: %v, want it handled", err)
	}
	if list, err := b.env.Store.Escalations(ctx, "harbour"); err != nil || len(list) != 2 {
		t.Errorf("a worsening bare score during the erasure: %d escalations (%v), want 2", len(list), err)
	}
	if err := text("SM"+strings.Repeat("5", 32), "HELP"); err != nil {
		t.Errorf("HELP during the erasure: %v, want it answered", err)
	}
	// Held a few times at most: the replies consumer's places are every
	// clinic's.
	if err := textN("SM"+strings.Repeat("6", 32), "thanks again", 4); err != nil {
		t.Errorf("a text held three times already: %v, want it handled", err)
	}
	if held := b.processor.Stats.HeldForErasure.Load(); held != 1 {
		t.Errorf("held %d texts, want 1", held)
	}
}
