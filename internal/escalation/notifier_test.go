package escalation_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// An on-call alert whose send got no answer may have reached Twilio, which
// takes it late: the retry finds it there and does not text the on-call
// phone a second time.
func TestOnCallTextNotRepeatedAfterNoAnswer(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n := &escalation.Notifier{
		Store: env.Store, Clinics: natsjstest.Clinics(t), Sender: sender, HTTP: http.DefaultClient,
		RetryBase: time.Second, RetryMax: time.Minute, GiveUpAfter: time.Hour,
		Now: time.Now, Log: natsjstest.Logger(), Stats: &escalation.Stats{},
	}
	ctx := context.Background()
	e := aftercare.Escalation{ID: "esc_SM1", ClinicID: "harbour", SessionID: "s1", ClientPhone: "+447700900123",
		Reason: "red_flag", Status: aftercare.EscalationOpen, RaisedAt: time.Now(), ReceivedAt: time.Now()}
	if _, err := env.Store.SaveEscalation(ctx, e, 0); err != nil {
		t.Fatal(err)
	}

	stand.Script(twiliotest.Reply{Delay: 1500 * time.Millisecond}) // past the sender's timeout
	if outcome, _, _ := jobs.Outcome(n.Notify(ctx, "harbour", e.ID, 1)); outcome != "retry" {
		t.Fatalf("first attempt: %s, want retry", outcome)
	}
	deadline := time.Now().Add(5 * time.Second)
	for stand.Count() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.Notify(ctx, "harbour", e.ID, 2); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	msgs := stand.Messages()
	got, _, err := env.Store.Escalation(ctx, "harbour", e.ID)
	if err != nil || len(msgs) != 1 || got.Notice.OnCallSMSSID != msgs[0].SID || got.Notice.NotifiedAt.IsZero() {
		t.Fatalf("%d alert texts, notice %+v (%v); want one, recorded", len(msgs), got.Notice, err)
	}
	if stand.Lists() != 1 {
		t.Errorf("looked up %d times, want 1", stand.Lists())
	}
}
