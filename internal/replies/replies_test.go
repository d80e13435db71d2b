package replies_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/planner"
	"github.com/aftercare/aftercare/internal/replies"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

type bundle struct {
	env       *natsjstest.Env
	twilio    *twiliotest.Server
	processor *replies.Processor
	planner   *planner.Planner
	clock     *natsjstest.Clock
}

func setup(t *testing.T) bundle {
	t.Helper()
	env := natsjstest.Start(t)
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clock := natsjstest.NewClock(time.Now())
	directory := natsjstest.Clinics(t)
	return bundle{
		env: env, twilio: stand, clock: clock,
		processor: &replies.Processor{Store: env.Store, Clinics: directory, Sender: sender, Steps: 3, AnswerAttempts: 3,
			Now: clock.Now, Log: natsjstest.Logger(), Stats: &replies.Stats{}},
		planner: &planner.Planner{Store: env.Store, Clinics: directory, Policy: plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour},
			Now: clock.Now, Log: natsjstest.Logger(), Stats: &planner.Stats{}},
	}
}

func (b bundle) session(t *testing.T, seq uint64, id, phone string, end time.Time) {
	t.Helper()
	ev := aftercare.SessionEvent{EventID: "e-" + id, ClinicID: "harbour", SessionID: id, Kind: aftercare.KindCompleted,
		SessionEnd: &end, Client: &aftercare.Client{Phone: phone, TimeZone: "Europe/London"}}
	if err := b.planner.Apply(context.Background(), seq, ev); err != nil {
		t.Fatal(err)
	}
}

var n int

func (b bundle) reply(t *testing.T, phone, body string) aftercare.Reply {
	t.Helper()
	n++
	in := aftercare.InboundSMS{MessageSID: fmt.Sprintf("SM%032d", n), ClinicID: "harbour", From: phone, To: "+447700900100", Body: body, ReceivedAt: b.clock.Now()}
	if err := b.processor.Process(context.Background(), in, 1); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Minute)
	rec, _, err := b.env.Store.Reply(context.Background(), "harbour", in.MessageSID)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Scores are compared with the client's previous one: 4 then 5 is the
// same, then 7 is a rise of 2 (worsening), then 3 is improving.
func TestScoresComparedWithThePrevious(t *testing.T) {
	b := setup(t)
	const phone = "+447700900123"
	b.session(t, 1, "s1", phone, b.clock.Now().Add(-25*time.Hour))
	for _, step := range []struct {
		body  string
		class string
		prev  *int
	}{
		{"4", "same", nil},
		{"5/10", "same", ptr(4)},
		{"about a 7", "worsening", ptr(5)},
		{"3", "improving", ptr(7)},
	} {
		rec := b.reply(t, phone, step.body)
		if rec.Class != step.class || (step.prev == nil) != (rec.PreviousScore == nil) || step.prev != nil && *rec.PreviousScore != *step.prev {
			t.Errorf("%q: class %s previous %v (%s), want %s previous %v", step.body, rec.Class, rec.PreviousScore, rec.Reason, step.class, step.prev)
		}
		if rec.SessionID != "s1" || rec.ProcessedAt.IsZero() {
			t.Errorf("%q: record %+v", step.body, rec)
		}
	}
}

// A reply links to the client's most recent session that is not cancelled.
func TestLinksTheLatestSession(t *testing.T) {
	b := setup(t)
	const phone = "+447700900124"
	now := b.clock.Now()
	b.session(t, 1, "old", phone, now.Add(-10*24*time.Hour))
	b.session(t, 2, "recent", phone, now.Add(-26*time.Hour))
	if rec := b.reply(t, phone, "better thanks"); rec.SessionID != "recent" || rec.Class != "improving" {
		t.Errorf("linked to %q (%s)", rec.SessionID, rec.Class)
	}
	cancel := aftercare.SessionEvent{EventID: "c-recent", ClinicID: "harbour", SessionID: "recent", Kind: aftercare.KindCancelled}
	if err := b.planner.Apply(context.Background(), 3, cancel); err != nil {
		t.Fatal(err)
	}
	if rec := b.reply(t, phone, "same"); rec.SessionID != "old" {
		t.Errorf("after cancelling the recent one, linked to %q", rec.SessionID)
	}
}

// Processing a reply again (a redelivery after a crash) does not raise a
// second escalation or answer twice.
func TestProcessingAgainChangesNothing(t *testing.T) {
	b := setup(t)
	const phone = "+447700900125"
	b.session(t, 1, "s1", phone, b.clock.Now().Add(-25*time.Hour))
	in := aftercare.InboundSMS{MessageSID: "SM" + strings.Repeat("a", 32), ClinicID: "harbour", From: phone, To: "+447700900100", Body: "WORSE", ReceivedAt: b.clock.Now()}
	for range 3 {
		if err := b.processor.Process(context.Background(), in, 1); err != nil {
			t.Fatal(err)
		}
	}
	list, err := b.env.Store.Escalations(context.Background(), "harbour")
	if err != nil || len(list) != 1 {
		t.Fatalf("escalations %d %v", len(list), err)
	}
	if got := len(b.twilio.Messages()); got != 1 {
		t.Errorf("%d answers sent, want 1", got)
	}
	if n := b.env.Count(t, "AFTERCARE_ESCALATIONS", "escalations.>"); n != 1 {
		t.Errorf("%d escalation events, want 1", n)
	}
	if b.processor.Stats.Replayed.Load() != 2 || b.processor.Stats.Escalations.Load() != 1 {
		t.Errorf("stats: replayed %d, escalations %d", b.processor.Stats.Replayed.Load(), b.processor.Stats.Escalations.Load())
	}
	sess, _, _ := b.env.Store.Session(context.Background(), "harbour", "s1")
	if sess.EscalationID != list[0].ID {
		t.Errorf("session not held for the escalation: %+v", sess)
	}
}

func ptr[T any](v T) *T { return &v }

// Someone with no session here is answered at most once a day, so texting
// us cannot be used to make us send texts or page the clinic: a first
// red-flag text is escalated (the clinic's line heard of someone getting
// worse), the next ones that day are recorded and nothing more.
func TestStrangersAnsweredOnceADay(t *testing.T) {
	b := setup(t)
	const stranger = "+447700900126"
	first := b.reply(t, stranger, "worse, numb leg")
	if first.SessionID != "" || first.EscalationID == "" || !strings.Contains(first.Answer, "999") || first.ProcessedAt.IsZero() {
		t.Fatalf("stranger's first red-flag text: %+v", first)
	}
	for range 2 {
		if rec := b.reply(t, stranger, "worse, numb leg"); rec.EscalationID != "" || rec.Answer != "" || rec.ProcessedAt.IsZero() {
			t.Fatalf("stranger's next text the same day: %+v", rec)
		}
	}
	if got := len(b.twilio.Messages()); got != 1 {
		t.Errorf("%d answers to a stranger within a day, want 1", got)
	}
	list, _ := b.env.Store.Escalations(context.Background(), "harbour")
	if len(list) != 1 || list[0].SessionID != "" || list[0].ClientPhone != stranger {
		t.Errorf("a stranger's texts raised %+v, want one escalation with no session", list)
	}
	b.clock.Advance(25 * time.Hour)
	if rec := b.reply(t, stranger, "hello?"); !strings.Contains(rec.Answer, "could not match this number") {
		t.Errorf("answer after a day: %q", rec.Answer)
	}
	if got := len(b.twilio.Messages()); got != 2 {
		t.Errorf("%d answers after a day, want 2", got)
	}
}

// An answer and an escalation have separate daily slots: a stranger who
// texted "hello?" earlier is still escalated when they report a red flag.
func TestStrangerEscalatedAfterAnEarlierAnswer(t *testing.T) {
	b := setup(t)
	const stranger = "+447700900127"
	if rec := b.reply(t, stranger, "hello?"); !strings.Contains(rec.Answer, "could not match this number") {
		t.Fatalf("first text's answer: %q", rec.Answer)
	}
	if rec := b.reply(t, stranger, "my leg has gone numb"); rec.EscalationID == "" || !strings.Contains(rec.Answer, "999") {
		t.Fatalf("red flag after an answer the same day: %+v", rec)
	}
}
