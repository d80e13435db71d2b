package erasure_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// Against the Twilio stand-in through twilio-go: a text still being
// delivered is not deleted yet, the others are, and the job is retried in
// minutes; once the text is delivered the retry deletes it.
func TestTwilioErasureRetriesWhatIsLeft(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, body := range []string{"just sent", "an old tip", "another"} {
		sid, err := sender.Send(ctx, sms.Message{To: client, From: "+447700900100", Body: body})
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, sid)
	}
	stand.Sending(sids[0], true)
	if err := b.env.Store.QueueTwilioErasure(ctx, natsjs.TwilioErasure{ClinicID: "harbour", SIDs: sids}); err != nil {
		t.Fatal(err)
	}
	cons, err := natsjs.TwilioEraseConsumer(ctx, b.env.Store.JetStream(), time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	msg := fetchOne(t, cons, "Twilio erasure job")
	eraser := &erasure.TwilioEraser{Deleter: sender, Log: natsjstest.Logger()}
	action, delay, cause := jobs.Outcome(eraser.Handle(ctx, msg))
	if action != "retry" || delay < time.Minute {
		t.Errorf("job with a text still being delivered: %s in %v (%v), want retry in minutes", action, delay, cause)
	}
	if left := stand.Messages(); len(left) != 1 || left[0].SID != sids[0] {
		t.Errorf("left at Twilio: %+v, want only %s", left, sids[0])
	}
	stand.Sending(sids[0], false)
	if err := eraser.Handle(ctx, msg); err != nil {
		t.Errorf("the retry: %v", err)
	}
	if left := stand.Messages(); len(left) != 0 {
		t.Errorf("left at Twilio after the retry: %+v", left)
	}
}
