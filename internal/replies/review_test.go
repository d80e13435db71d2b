package replies_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/inbox"
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
	if err := b.processor.Process(ctx, in, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.env.Store.ClearErasing(ctx, "harbour", phone); err != nil {
		t.Fatal(err)
	}
	for _, hit := range natsjstest.Find(t, b.env.Conn.JS, []string{"KV_" + natsjs.BucketEscalations, natsjs.StreamEscalation, natsjs.StreamChain}, "447700900123", "sore still") {
		t.Errorf("after the erasure: %s", hit)
	}
}
