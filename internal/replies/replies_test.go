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
	"github.com/aftercare/aftercare/internal/triage"
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
		processor: &replies.Processor{Store: env.Store, Clinics: directory, Sender: sender, Steps: 3, AnswerAttempts: 3, StrangerAnswersPerHour: 20,
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

// answersTo counts the texts sent to phone.
func (b bundle) answersTo(phone string) int {
	n := 0
	for _, m := range b.twilio.Messages() {
		if m.To == phone {
			n++
		}
	}
	return n
}

// Keywords from a number with no session take its once-a-day answer too:
// HELP five times is answered once, and so is the red flag's answer after
// which a "hello?" goes unanswered.
func TestStrangerKeywordsAnsweredOnceADay(t *testing.T) {
	b := setup(t)
	const stranger = "+447700900130"
	for i := range 5 {
		rec := b.reply(t, stranger, "HELP")
		if rec.Keyword != "help" || rec.ProcessedAt.IsZero() || (i == 0) != (rec.Answer != "") {
			t.Errorf("HELP %d: keyword %q, answer %q", i+1, rec.Keyword, rec.Answer)
		}
	}
	if got := b.answersTo(stranger); got != 1 {
		t.Errorf("HELP x5 from a stranger got %d answers, want 1", got)
	}
	if got := b.processor.Stats.WithheldDaily.Load(); got != 4 {
		t.Errorf("%d answers counted withheld, want 4", got)
	}

	const other = "+447700900131"
	if rec := b.reply(t, other, "my leg has gone numb"); rec.EscalationID == "" || rec.Answer == "" {
		t.Fatalf("a stranger's red flag: %+v", rec)
	}
	if rec := b.reply(t, other, "hello?"); rec.Answer != "" {
		t.Errorf("answered again the same day after the red flag's answer: %q", rec.Answer)
	}
}

// STOP and START from a number with no session change its opt-out every
// time (the law requires STOP be honoured), but it is answered once a day.
func TestStrangerOptOutRecordedEveryTimeAnsweredOnce(t *testing.T) {
	b := setup(t)
	const stranger = "+447700900132"
	for i := range 3 {
		for _, step := range []struct {
			body string
			out  bool
		}{{"STOP", true}, {"START", false}} {
			b.reply(t, stranger, step.body)
			out, err := b.env.Store.OptedOut(context.Background(), "harbour", stranger)
			if err != nil || out != step.out {
				t.Errorf("round %d, after %s: opted out %v (%v), want %v", i+1, step.body, out, err, step.out)
			}
		}
	}
	if got := b.answersTo(stranger); got != 1 {
		t.Errorf("STOP/START x3 from a stranger got %d answers, want 1", got)
	}
	// A client with a session is answered every time.
	const client = "+447700900133"
	b.session(t, 1, "s1", client, b.clock.Now().Add(-25*time.Hour))
	b.reply(t, client, "STOP")
	b.reply(t, client, "START")
	if got := b.answersTo(client); got != 2 {
		t.Errorf("a client with a session got %d answers to STOP, START, want 2", got)
	}
}

// Many numbers, each answered once a day, are still capped per clinic and
// hour, across workers: two processors share the count in JetStream, a
// reply handled again keeps its place, and the next hour has new places.
func TestStrangerAnswersCappedPerClinicPerHour(t *testing.T) {
	b := setup(t)
	now := b.clock.Now()
	b.clock.Advance(now.Truncate(time.Hour).Add(time.Hour).Sub(now)) // the start of an hour
	b.processor.StrangerAnswersPerHour = 3
	second := *b.processor
	second.Stats = &replies.Stats{}
	ctx := context.Background()
	answered := 0
	for i := range 8 {
		in := aftercare.InboundSMS{MessageSID: fmt.Sprintf("SMcap%029d", i), ClinicID: "harbour", From: fmt.Sprintf("+4477009002%02d", i),
			To: "+447700900100", Body: []string{"hello?", "HELP", "STOP", "my leg is numb"}[i%4], ReceivedAt: b.clock.Now()}
		p := b.processor
		if i%2 == 1 {
			p = &second
		}
		for range 2 { // handled again: no second place taken
			if err := p.Process(ctx, in, 1); err != nil {
				t.Fatal(err)
			}
		}
		rec, _, err := b.env.Store.Reply(ctx, "harbour", in.MessageSID)
		if err != nil || rec.ProcessedAt.IsZero() {
			t.Fatalf("reply %d: %+v %v", i, rec, err)
		}
		if rec.Answer != "" {
			answered++
		}
	}
	if answered != 3 || len(b.twilio.Messages()) != 3 {
		t.Errorf("%d strangers answered (%d texts) in an hour, want the cap, 3", answered, len(b.twilio.Messages()))
	}
	if withheld := b.processor.Stats.WithheldHourly.Load() + second.Stats.WithheldHourly.Load(); withheld != 5 {
		t.Errorf("%d answers counted withheld by the hourly cap, want 5", withheld)
	}
	if out, _ := b.env.Store.OptedOut(ctx, "harbour", "+447700900202"); !out {
		t.Error("a STOP over the cap was not recorded")
	}
	list, _ := b.env.Store.Escalations(ctx, "harbour")
	if len(list) != 2 {
		t.Errorf("%d escalations, want both red flags escalated whatever the cap", len(list))
	}
	b.clock.Advance(time.Hour)
	if rec := b.reply(t, "+447700900299", "hello?"); rec.Answer == "" {
		t.Error("a stranger was not answered in the next hour")
	}
}

// A reply about the body that triage cannot read with confidence is kept
// as needs_review and counted, and is handled as "other" is: no
// escalation, no page, no answer, the plan left as it is. Chit-chat is
// counted as other (the counters follow triage.Classes(), one per class).
func TestNeedsReviewIsRecordedNotEscalated(t *testing.T) {
	b := setup(t)
	const phone = "+447700900131"
	b.session(t, 1, "s1", phone, b.clock.Now().Add(-25*time.Hour))
	rec := b.reply(t, phone, "my shoulder feels weird since yesterday")
	if rec.Class != string(triage.NeedsReview) || rec.EscalationID != "" || rec.Answer != "" || rec.ProcessedAt.IsZero() {
		t.Fatalf("record %+v", rec)
	}
	if got := b.reply(t, phone, "thanks"); got.Class != string(triage.Other) {
		t.Fatalf("thanks: %s", got.Class)
	}
	if len(b.twilio.Messages()) != 0 {
		t.Errorf("answered: %+v", b.twilio.Messages())
	}
	if list, err := b.env.Store.Escalations(context.Background(), "harbour"); err != nil || len(list) != 0 {
		t.Errorf("escalations %v, err %v", list, err)
	}
	if sess, _, err := b.env.Store.Session(context.Background(), "harbour", "s1"); err != nil || sess.EscalationID != "" {
		t.Errorf("session %+v, err %v", sess, err)
	}
	st := b.processor.Stats
	for i, c := range triage.Classes() {
		want := int64(0)
		if c == triage.NeedsReview || c == triage.Other {
			want = 1
		}
		if got := st.ByClass[i].Load(); got != want {
			t.Errorf("replies counted as %s: %d, want %d", c, got, want)
		}
	}
	if st.Escalations.Load() != 0 {
		t.Errorf("escalations counted: %d", st.Escalations.Load())
	}
}

// A stop request in plain words is read with the client's last score: "6
// now" after a 4 is worsening, so the client is opted out and the reply is
// triaged (and escalated), not silently opted out.
func TestStopRequestReadWithThePreviousScore(t *testing.T) {
	b := setup(t)
	const phone = "+447700900124"
	b.session(t, 1, "s1", phone, b.clock.Now().Add(-25*time.Hour))
	if rec := b.reply(t, phone, "4"); rec.Class != "same" {
		t.Fatalf("first score: %s (%s)", rec.Class, rec.Reason)
	}
	rec := b.reply(t, phone, "no more texts please, 6 now")
	if rec.Keyword == "" {
		t.Errorf("not opted out: %+v", rec)
	}
	if rec.Class != "worsening" || rec.EscalationID == "" {
		t.Errorf("class %s escalation %q (%s): want worsening, escalated", rec.Class, rec.EscalationID, rec.Reason)
	}
}
