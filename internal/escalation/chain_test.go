package escalation_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/email"
	"github.com/aftercare/aftercare/internal/email/emailtest"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

const (
	onCall    = "+447700900199"
	backup    = "+447700900188"
	client    = "+447700900123"
	replyBody = "my calf is swollen and hot"
)

type chainBundle struct {
	store     *natsjs.Store
	stand     *twiliotest.Server
	mail      *emailtest.Server
	clinics   *clinics.Directory
	notifier  *escalation.Notifier
	chain     *escalation.Chain
	lifecycle *escalation.Lifecycle
}

// setupChain is harbour with a chain: after 10 minutes text and call the
// backup, after 30 email the clinic; remind the owner after 4 hours.
func setupChain(t *testing.T, options ...func(*aftercare.Clinic)) chainBundle {
	t.Helper()
	env := natsjstest.Start(t)
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	mail, err := emailtest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Close)
	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	harbour := aftercare.Clinic{
		ID: "harbour", Name: "Harbour Massage", TimeZone: "Europe/London", SendWindow: "* * * * *", Locale: "en",
		Sender: aftercare.Sender{From: "+447700900100"}, ContactPhone: "+442079460000",
		Escalation: aftercare.EscalationContacts{OnCallPhone: onCall, Email: "frontdesk@harbour.example",
			Chain: []aftercare.ChainStep{
				{After: "10m", Delay: 10 * time.Minute, Text: []string{backup}, Call: []string{backup}},
				{After: "30m", Delay: 30 * time.Minute, Email: true},
			},
			RemindUnresolvedAfter: "4h", RemindAfter: 4 * time.Hour},
	}
	for _, option := range options {
		option(&harbour)
	}
	dir, err := clinics.New([]aftercare.Clinic{harbour})
	if err != nil {
		t.Fatal(err)
	}
	log := natsjstest.Logger()
	return chainBundle{
		store: env.Store, stand: stand, mail: mail, clinics: dir,
		notifier: &escalation.Notifier{Store: env.Store, Clinics: dir, Sender: sender, HTTP: http.DefaultClient,
			RetryBase: time.Second, RetryMax: time.Minute, GiveUpAfter: time.Hour, Now: time.Now, Log: log, Stats: &escalation.Stats{}},
		chain: &escalation.Chain{Store: env.Store, Clinics: dir, Sender: sender, Caller: sender,
			Mailer:    email.New(email.Config{Host: mail.Host, Port: mail.Port, From: "aftercare@example.org", TLS: email.TLSNone}),
			RetryBase: time.Second, RetryMax: time.Minute, MaxAttempts: 3, Now: time.Now, Log: log, Stats: &escalation.ChainStats{}},
		lifecycle: &escalation.Lifecycle{Store: env.Store, Clinics: dir, Now: time.Now, Log: log},
	}
}

// raise stores an open escalation and runs its first notice, which sets the
// chain's timers and its ACK code.
func (b chainBundle) raise(t *testing.T, id string) aftercare.Escalation {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	e := aftercare.Escalation{ID: id, ClinicID: "harbour", SessionID: "s1", ClientPhone: client, Class: "red_flag",
		Reason: "red_flag: calf swollen", ReplyBody: replyBody, Status: aftercare.EscalationOpen, RaisedAt: now, ReceivedAt: now}
	if _, err := b.store.SaveEscalation(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.notifier.Notify(ctx, "harbour", id, 1); err != nil {
		t.Fatal(err)
	}
	e, _, err := b.store.Escalation(ctx, "harbour", id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (b chainBundle) pending(t *testing.T, id string) uint64 {
	t.Helper()
	n, err := b.store.PendingChain(context.Background(), "harbour", id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Nobody acknowledges: the first notice sets a timer per step and puts the
// code in the on-call text; step 1 texts and calls the backup, once however
// often it fires; the call says only that a client needs a call back; the
// email names the escalation and nothing of the client.
func TestChainPagesBackupThenEmails(t *testing.T) {
	t.Parallel()
	b := setupChain(t)
	ctx := context.Background()
	e := b.raise(t, "esc_SM1")
	if len(e.AckCode) != 4 || e.Chain.ScheduledAt.IsZero() {
		t.Fatalf("code %q, chain %+v: want a 4-digit code and timers set", e.AckCode, e.Chain)
	}
	if n := b.pending(t, e.ID); n != 2 {
		t.Fatalf("%d chain timers waiting, want 2", n)
	}
	alerts := b.stand.Messages()
	if len(alerts) != 1 || alerts[0].To != onCall || !strings.Contains(alerts[0].Body, "Reply ACK "+e.AckCode) {
		t.Fatalf("on-call alert %+v", alerts)
	}

	for range 2 { // a redelivered step does nothing twice
		if err := b.chain.Fire(ctx, natsjs.ChainTimer{ClinicID: "harbour", EscalationID: e.ID, Step: 1}, 1); err != nil {
			t.Fatal(err)
		}
	}
	var texts []twiliotest.Message
	for _, m := range b.stand.Messages() {
		if m.To == backup {
			texts = append(texts, m)
		}
	}
	calls := b.stand.Calls()
	if len(texts) != 1 || !strings.Contains(texts[0].Body, "ACK "+e.AckCode) || len(calls) != 1 || calls[0].To != backup || calls[0].From != "+447700900100" {
		t.Fatalf("backup texts %+v, calls %+v: want one of each", texts, calls)
	}
	twiml := calls[0].Twiml
	if !strings.Contains(twiml, "<Say>") || !strings.Contains(twiml, "needs a call back") || !strings.Contains(twiml, strings.Join(strings.Split(e.AckCode, ""), " ")) {
		t.Errorf("call TwiML %q", twiml)
	}
	for _, secret := range []string{client, "447700900123", "calf", "swollen", "red flag"} {
		if strings.Contains(twiml, secret) {
			t.Errorf("the call reads %q aloud: %s", secret, twiml)
		}
	}

	if err := b.chain.Fire(ctx, natsjs.ChainTimer{ClinicID: "harbour", EscalationID: e.ID, Step: 2}, 1); err != nil {
		t.Fatal(err)
	}
	mails := b.mail.Mails()
	if len(mails) != 1 || mails[0].To[0] != "frontdesk@harbour.example" || !strings.Contains(mails[0].Data, e.ID) {
		t.Fatalf("emails %+v", mails)
	}
	for _, secret := range []string{client, "447700900123", "calf", "swollen", replyBody} {
		if strings.Contains(mails[0].Data, secret) {
			t.Errorf("the email holds %q", secret)
		}
	}
	got, _, _ := b.store.Escalation(ctx, "harbour", e.ID)
	steps := 0
	for _, h := range got.History {
		if h.Kind == aftercare.EntryChainStep && h.By.Kind == aftercare.AuthorSystem {
			steps++
		}
	}
	if steps != 2 || got.Status != aftercare.EscalationOpen {
		t.Errorf("history %+v: want 2 chain steps recorded", got.History)
	}
}

// Acknowledging stops the chain: its timers are removed, and a step that
// fires all the same (already due) pages no one. A reminder is set instead.
func TestAcknowledgeStopsTheChain(t *testing.T) {
	t.Parallel()
	b := setupChain(t)
	ctx := context.Background()
	e := b.raise(t, "esc_SM2")
	by := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "st_1", Name: "Ana"}
	if _, err := b.lifecycle.Acknowledge(ctx, "harbour", e.ID, by, "calling"); err != nil {
		t.Fatal(err)
	}
	if n := b.pending(t, e.ID); n != 1 {
		t.Fatalf("%d timers left after acknowledging, want only the reminder", n)
	}
	before := len(b.stand.Messages())
	for step := 1; step <= 2; step++ {
		if err := b.chain.Fire(ctx, natsjs.ChainTimer{ClinicID: "harbour", EscalationID: e.ID, Step: step}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(b.stand.Messages()) - before; n != 0 || len(b.stand.Calls()) != 0 || len(b.mail.Mails()) != 0 {
		t.Fatalf("after acknowledging: %d texts, %d calls, %d emails; want none", n, len(b.stand.Calls()), len(b.mail.Mails()))
	}
	// Acknowledged, not resolved: the reminder goes to the clinic's email
	// (the owner has no phone on file), once.
	for range 2 {
		if err := b.chain.Fire(ctx, natsjs.ChainTimer{ClinicID: "harbour", EscalationID: e.ID, Remind: true}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if mails := b.mail.Mails(); len(mails) != 1 || !strings.Contains(mails[0].Data, "not resolved") {
		t.Fatalf("reminders %+v", mails)
	}
	if _, err := b.lifecycle.Resolve(ctx, "harbour", e.ID, by, "fine"); err != nil {
		t.Fatal(err)
	}
	if n := b.pending(t, e.ID); n != 0 {
		t.Fatalf("%d timers left after resolving", n)
	}
}

// The on-call phone replies "ACK <code>": a wrong code, a stranger and a
// repeat get clear answers; the right code acknowledges, by that phone.
func TestAcknowledgeByText(t *testing.T) {
	t.Parallel()
	b := setupChain(t)
	ctx := context.Background()
	e := b.raise(t, "esc_SM3")
	clinic, _ := b.clinics.Lookup("harbour")
	wrong := "0000"
	tests := []struct {
		from, body string
		handled    bool
		answer     string
	}{
		{client, "ACK " + e.AckCode, false, ""}, // a client is not a contact
		{onCall, "thanks", false, ""},
		{onCall, "ACK", true, "reply ACK and the code"},
		{onCall, "ACK " + wrong, true, "no escalation has code 0000"},
		{backup, "ack " + e.AckCode, true, "you own escalation " + e.ID},
		{onCall, "ACK " + e.AckCode, true, "already acknowledged by backup phone"},
	}
	for i, tt := range tests {
		answer, handled, err := b.lifecycle.AcknowledgeByText(ctx, clinic, fmt.Sprint("SM", i), tt.from, tt.body, time.Now())
		if err != nil || handled != tt.handled || !strings.Contains(answer, tt.answer) {
			t.Errorf("%s %q: %q handled %v (%v); want handled %v, %q", aftercare.MaskPhone(tt.from), tt.body, answer, handled, err, tt.handled, tt.answer)
		}
	}
	got, _, _ := b.store.Escalation(ctx, "harbour", e.ID)
	if got.Status != aftercare.EscalationAcknowledged || got.Owner == nil || got.Owner.Kind != aftercare.AuthorPhone || got.Chain.OwnerPhone != backup {
		t.Fatalf("after ACK: %+v owner %+v", got.Status, got.Owner)
	}
	if _, err := b.lifecycle.Resolve(ctx, "harbour", e.ID, aftercare.Author{Kind: aftercare.AuthorAPI, Name: "Ana"}, ""); err != nil {
		t.Fatal(err)
	}
	if answer, _, _ := b.lifecycle.AcknowledgeByText(ctx, clinic, "SMstale", onCall, "ACK "+e.AckCode, time.Now()); !strings.Contains(answer, "stale") {
		t.Errorf("ACK of a resolved escalation: %q, want it called stale", answer)
	}
}

// Replaying a dead-lettered escalation clears its failed notices and
// announces it again, once per replay.
func TestReplayClearsFailedNotices(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	l := &escalation.Lifecycle{Store: env.Store, Clinics: natsjstest.Clinics(t), Now: time.Now, Log: natsjstest.Logger()}
	e := aftercare.Escalation{ID: "esc_SM7", ClinicID: "harbour", Status: aftercare.EscalationOpen, RaisedAt: time.Now(),
		Notice: aftercare.Notice{WebhookError: "clinic answered 503", OnCallError: "permanent send failure"}}
	if _, err := env.Store.SaveEscalation(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := l.Replay(ctx, "harbour", e.ID, "42"); err != nil {
			t.Fatal(err)
		}
	}
	got, _, _ := env.Store.Escalation(ctx, "harbour", e.ID)
	if got.Notice.WebhookError != "" || got.Notice.OnCallError != "" || got.Notice.ReplayedAt.IsZero() {
		t.Fatalf("notice after replay %+v", got.Notice)
	}
	if n := env.Count(t, natsjs.StreamEscalation, "escalations.harbour"); n != 1 {
		t.Fatalf("%d announcements, want 1 for one replay", n)
	}
}

// Guessing codes from a spoofed contact number is bounded: past
// AckTextsPerHour coded ACKs in an hour, even the right code is refused
// and the chain goes on; a redelivered text keeps its place.
func TestAckGuessesBounded(t *testing.T) {
	t.Parallel()
	b := setupChain(t)
	ctx := context.Background()
	e := b.raise(t, "esc_SM4")
	clinic, _ := b.clinics.Lookup("harbour")
	at := time.Now()
	for i := range escalation.AckTextsPerHour {
		guess := fmt.Sprintf("%04d", i) // below 1000: never a real code
		for range 2 {
			if answer, _, err := b.lifecycle.AcknowledgeByText(ctx, clinic, fmt.Sprint("SMguess", i), onCall, "ACK "+guess, at); err != nil || !strings.Contains(answer, "no escalation has code") {
				t.Fatalf("guess %d: %q %v", i, answer, err)
			}
		}
	}
	answer, _, err := b.lifecycle.AcknowledgeByText(ctx, clinic, "SMright", onCall, "ACK "+e.AckCode, at)
	if err != nil || !strings.Contains(answer, "too many ACK texts") {
		t.Fatalf("after %d guesses: %q %v", escalation.AckTextsPerHour, answer, err)
	}
	if got, _, _ := b.store.Escalation(ctx, "harbour", e.ID); got.Status != aftercare.EscalationOpen {
		t.Fatalf("acknowledged past the bound: %s", got.Status)
	}
}
