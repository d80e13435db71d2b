package dispatch_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/dispatch"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/planner"
	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/tips"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// Sessions end at 10:00 London time, so each day's step is due at 10:00.
// A Monday in winter, years ahead: the timers these tests set must not fire,
// and nats-server's scheduler runs on the real clock, not the test's.
var sessionEnd = time.Date(2037, 11, 23, 10, 0, 0, 0, time.UTC)

type bundle struct {
	env        *natsjstest.Env
	clock      *natsjstest.Clock
	twilio     *twiliotest.Server
	dispatcher *dispatch.Dispatcher
	planner    *planner.Planner
}

func setup(t *testing.T) bundle {
	t.Helper()
	env := natsjstest.Start(t)
	clock := natsjstest.NewClock(sessionEnd)
	stand := twiliotest.NewServer()
	stand.Clock = clock.Now
	t.Cleanup(stand.Close)
	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	directory := natsjstest.Clinics(t, "* 9-19 * * *")
	d := &dispatch.Dispatcher{
		Store: env.Store, Clinics: directory, Sender: sender,
		Staleness: 12 * time.Hour, MaxAttempts: 3, RetryBase: 10 * time.Second, RetryMax: time.Minute,
		ClaimLease: 30 * time.Second, StatusCallback: "https://aftercare.example/v1/twilio/status",
		Limits: dispatch.NewRateLimits(1000, 1000), Now: clock.Now, Log: natsjstest.Logger(), Stats: &dispatch.Stats{},
	}
	p := &planner.Planner{Store: env.Store, Clinics: directory, Policy: plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour},
		Now: clock.Now, Log: natsjstest.Logger(), Stats: &planner.Stats{}}
	return bundle{env: env, clock: clock, twilio: stand, dispatcher: d, planner: p}
}

func ptr[T any](v T) *T { return &v }

// plan records session s1 at plan version seq and returns the job of step 1,
// with the clock moved to its due time.
func (b bundle) plan(t *testing.T, seq uint64, clinic string) aftercare.DueFollowUp {
	t.Helper()
	// Each clinic texts numbers of its own country only.
	phone := map[string]string{"harbour": "+447700900123", "sol": "+525555550123"}[clinic]
	ev := aftercare.SessionEvent{EventID: "e" + string(rune('0'+seq)), ClinicID: clinic, SessionID: "s1", Kind: aftercare.KindCompleted,
		SessionEnd: ptr(sessionEnd), Client: &aftercare.Client{Phone: phone, TimeZone: "Europe/London"}}
	if err := b.planner.Apply(context.Background(), seq, ev); err != nil {
		t.Fatal(err)
	}
	f, rev, err := b.env.Store.FollowUp(context.Background(), clinic, "s1", 1)
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(f.DueAt.Sub(b.clock.Now()))
	// The job the planner set: the record as planned, at its revision, and
	// the session's client.
	job := b.timer(t, clinic)
	if s, ok := job.PlannedSession(); job.PlanVersion != seq || job.PlannedRevision != rev || !ok || s.Client.Phone != phone {
		t.Fatalf("job %+v of record %+v at revision %d", job, f, rev)
	}
	return job
}

// timer is the job the timer of s1's step 1 holds.
func (b bundle) timer(t *testing.T, clinic string) aftercare.DueFollowUp {
	t.Helper()
	stream, err := b.env.Conn.JS.Stream(context.Background(), natsjs.StreamFollowUps)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(context.Background(), "followups.schedule."+clinic+".s1.1")
	if err != nil {
		t.Fatal(err)
	}
	job, err := aftercare.ParseDue(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func (b bundle) record(t *testing.T, clinic string) aftercare.FollowUp {
	t.Helper()
	f, _, err := b.env.Store.FollowUp(context.Background(), clinic, "s1", 1)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func outcome(t *testing.T, err error, want string) time.Duration {
	t.Helper()
	got, delay, _ := jobs.Outcome(err)
	if got != want {
		t.Fatalf("outcome %q (%v), want %q", got, err, want)
	}
	return delay
}

func TestSendsTheDayOneTip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	msgs := b.twilio.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.To != "+447700900123" || m.From != "+447700900100" || m.StatusCallback != "https://aftercare.example/v1/twilio/status?clinic=harbour&kind=followup&session=s1&step=1" {
		t.Errorf("message %+v", m)
	}
	if !strings.HasPrefix(m.Body, "Harbour Massage: Day 1") || !strings.Contains(m.Body, "water") {
		t.Errorf("body %q", m.Body)
	}
	f := b.record(t, "harbour")
	if f.Status != aftercare.FollowUpSent || f.MessageSID != m.SID || f.Attempts != 1 {
		t.Errorf("record %+v", f)
	}
	// Redelivery of the same job sends nothing more.
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	if n := len(b.twilio.Messages()); n != 1 {
		t.Fatalf("redelivery sent again: %d messages", n)
	}
}

// A job that carries its session is sent without reading it: here there
// is none left to read, and the text goes all the same.
func TestPlannedJobIsSentWithoutReadingTheSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	if err := b.env.Store.EraseKeys(context.Background(), natsjs.BucketSessions, natsjs.SessionKey("harbour", "s1")); err != nil {
		t.Fatal(err)
	}
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	if msgs := b.twilio.Messages(); len(msgs) != 1 || msgs[0].To != "+447700900123" {
		t.Fatalf("messages %+v, want the day 1 tip to the job's client", msgs)
	}
	// A job without its session (from an older scheduler, or deferred)
	// reads it, and there is none.
	bare := job
	bare.Client = nil
	b.giveUp(t, bare, b.dispatcher.Send(context.Background(), bare))
	// Given up, a job keeps its follow-up's name and not its client's.
	b.giveUp(t, job, jobs.GiveUp(errors.New("given up by hand")))
	letters := b.deadLetters(t)
	if len(letters) != 2 {
		t.Fatalf("%d dead letters, want 2", len(letters))
	}
	for _, m := range letters {
		if strings.Contains(string(m.Data), "+447700900123") || !strings.Contains(string(m.Data), `"session_id":"s1"`) {
			t.Errorf("dead letter %s: want the follow-up named, the number not", m.Data)
		}
	}
}

func TestSpanishClinicUsesMessagingService(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "sol")
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	m := b.twilio.Messages()[0]
	if m.MessagingServiceSID != "MG00000000000000000000000000000001" || !strings.HasPrefix(m.Body, "Fisio Sol: Dia 1") {
		t.Errorf("message %+v", m)
	}
}

func TestConcurrentDeliveriesSendOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _ = b.dispatcher.Send(context.Background(), job) })
	}
	wg.Wait()
	if n := len(b.twilio.Messages()); n != 1 {
		t.Fatalf("%d messages for one follow-up, want 1", n)
	}
}

// A job carries its record as planned; a record written since, even as
// planned again (a merge that held the step back and let it go), is read
// before the text goes, and the text goes once.
func TestJobOfARecordWrittenSinceIsReadAndSentOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	f, rev, err := b.env.Store.FollowUp(context.Background(), "harbour", "s1", 1)
	if err != nil {
		t.Fatal(err)
	}
	f.Status, f.Reason = aftercare.FollowUpSkipped, "capped"
	if rev, err = b.env.Store.SaveFollowUp(context.Background(), f, rev); err != nil {
		t.Fatal(err)
	}
	// Skipped since the job was made: nothing goes.
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	if n := len(b.twilio.Messages()); n != 0 {
		t.Fatalf("%d messages for a step skipped after its job was made, want 0", n)
	}
	f.Status, f.Reason = aftercare.FollowUpScheduled, ""
	if _, err = b.env.Store.SaveFollowUp(context.Background(), f, rev); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	}
	if n := len(b.twilio.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpSent || f.Attempts != 1 {
		t.Errorf("record %+v, want sent at the first attempt", f)
	}
}

// A job that takes its record as planned counts an outcome only once it
// is written: a twin of a text already sent is superseded, not also
// counted as skipped for being late by the time it runs.
func TestTwinOfASentTextIsCountedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	b.clock.Advance(13 * time.Hour) // past Staleness
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	if n := len(b.twilio.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	st := b.dispatcher.Stats
	if st.Sent.Load() != 1 || st.Superseded.Load() != 1 || st.Skipped.Load() != 0 {
		t.Errorf("sent %d, superseded %d, skipped %d; want 1, 1, 0", st.Sent.Load(), st.Superseded.Load(), st.Skipped.Load())
	}
	if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpSent {
		t.Errorf("record %+v, want it still sent", f)
	}
}

// A job made by a scheduler whose FollowUp has other fields cannot say the
// record is as planned: the worker reads it, and finds the earlier attempt.
func TestJobOfAnotherFormatReadsItsRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.claimedByADeadWorker(t)
	f, rev, err := b.env.Store.FollowUp(context.Background(), "harbour", "s1", 1)
	if err != nil {
		t.Fatal(err)
	}
	job.PlannedRevision, job.PlannedFormat = rev, aftercare.FollowUpFormat+1
	if job.KnowsRecord() {
		t.Fatal("a job of another format knows its record")
	}
	// Were it taken as planned, the claim at rev would succeed over the dead
	// worker's claim, and the text go again with no look-up at Twilio.
	delay := outcome(t, b.dispatcher.Send(context.Background(), job), "snooze")
	if delay <= 0 || len(b.twilio.Messages()) != 0 || b.record(t, "harbour") != f {
		t.Errorf("snoozed %v, %d messages, record %+v; want it held for the other claim", delay, len(b.twilio.Messages()), b.record(t, "harbour"))
	}
}

func TestRetryHonoursRetryAfterThenSends(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.twilio.Script(twiliotest.Reply{Status: 429, Code: 20429, RetryAfter: "45"}, twiliotest.Reply{Status: 503, HTML: true})
	if d := outcome(t, b.dispatcher.Send(context.Background(), job), "retry"); d != 45*time.Second {
		t.Errorf("retry after %v, want Retry-After's 45s", d)
	}
	if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpScheduled || f.Attempts != 1 || f.Reason == "" {
		t.Errorf("after a 429 the record is %+v; want scheduled, 1 attempt, a reason", f)
	}
	// Second attempt: a proxy's 503 page; backoff is 2 x 10s with jitter.
	if d := outcome(t, b.dispatcher.Send(context.Background(), job), "retry"); d < 16*time.Second || d > 24*time.Second {
		t.Errorf("retry after %v, want about 20s", d)
	}
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpSent || f.Attempts != 3 {
		t.Errorf("record %+v", f)
	}
	if b.twilio.Requests() != 3 || len(b.twilio.Messages()) != 1 {
		t.Errorf("requests %d, messages %d; want 3 and 1", b.twilio.Requests(), len(b.twilio.Messages()))
	}
}

func (b bundle) deadLetters(t *testing.T) []*nats.Msg {
	t.Helper()
	stream, err := b.env.Conn.JS.Stream(context.Background(), natsjs.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := stream.Info(context.Background())
	var out []*nats.Msg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := stream.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data})
	}
	return out
}

// giveUp runs the dead-letter path the job runner takes on a GiveUp.
func (b bundle) giveUp(t *testing.T, job aftercare.DueFollowUp, err error) {
	t.Helper()
	outcome(t, err, "give up")
	msg := fakeMsg(t, job)
	if dlErr := b.dispatcher.DeadLetter(context.Background(), msg, err.Error()); dlErr != nil {
		t.Fatal(dlErr)
	}
}

func TestPermanentErrorIsDeadLettered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.twilio.Script(twiliotest.Reply{Status: 400, Code: 21211})
	b.giveUp(t, job, b.dispatcher.Send(context.Background(), job))
	dl := b.deadLetters(t)
	if len(dl) != 1 || dl[0].Subject != "deadletter.followup.harbour.s1.1" || !strings.Contains(dl[0].Header.Get(natsjs.ReasonHeader), "21211") {
		t.Fatalf("dead letters %+v", dl)
	}
	if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpDead || !strings.Contains(f.Reason, "invalid To number") {
		t.Errorf("record %+v", f)
	}
	if b.twilio.Requests() != 1 {
		t.Errorf("a permanent error was retried: %d requests", b.twilio.Requests())
	}
	// A redelivery after the dead letter sends nothing.
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	if b.twilio.Requests() != 1 {
		t.Error("dead follow-up was sent again")
	}
}

func TestRetryBudgetEndsInDeadLetter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.twilio.Script(twiliotest.Reply{Status: 500, Code: 20500}, twiliotest.Reply{Status: 500, Code: 20500}, twiliotest.Reply{Status: 500, Code: 20500})
	outcome(t, b.dispatcher.Send(context.Background(), job), "retry")
	outcome(t, b.dispatcher.Send(context.Background(), job), "retry")
	err := b.dispatcher.Send(context.Background(), job)
	if !strings.Contains(err.Error(), "retry budget of 3") {
		t.Errorf("error %v does not name the budget", err)
	}
	b.giveUp(t, job, err)
	if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpDead {
		t.Errorf("record %+v", f)
	}
	if dl := b.deadLetters(t); len(dl) != 1 {
		t.Errorf("%d dead letters, want 1", len(dl))
	}
}

func TestNotSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, b bundle, job *aftercare.DueFollowUp)
		outcome string
		status  aftercare.FollowUpStatus
	}{
		{"client opted out", func(t *testing.T, b bundle, _ *aftercare.DueFollowUp) {
			if err := b.env.Store.SetOptOut(context.Background(), "harbour", "+447700900123", true, b.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}, "ack", aftercare.FollowUpSkipped},
		{"session cancelled after the job fired", func(t *testing.T, b bundle, _ *aftercare.DueFollowUp) {
			cancelled := aftercare.SessionEvent{EventID: "e8", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindCancelled}
			if err := b.planner.Apply(context.Background(), 2, cancelled); err != nil {
				t.Fatal(err)
			}
		}, "ack", aftercare.FollowUpCancelled},
		{"client escalated after the job fired", func(t *testing.T, b bundle, _ *aftercare.DueFollowUp) {
			raiser := &escalation.Lifecycle{Store: b.env.Store, Clinics: b.dispatcher.Clinics, Now: b.clock.Now, Log: natsjstest.Logger()}
			reply := aftercare.Reply{InboundSMS: aftercare.InboundSMS{MessageSID: "SM9", From: "+447700900123", ReceivedAt: b.clock.Now()}, SessionID: "s1"}
			clinic, _ := b.dispatcher.Clinics.Lookup("harbour")
			if _, _, err := raiser.Raise(context.Background(), clinic, reply, "", 3); err != nil {
				t.Fatal(err)
			}
		}, "ack", aftercare.FollowUpCancelled},
		{"stale when a worker takes it", func(t *testing.T, b bundle, _ *aftercare.DueFollowUp) {
			b.clock.Advance(13 * time.Hour)
		}, "ack", aftercare.FollowUpSkipped},
		{"outside the send window after a backlog", func(t *testing.T, b bundle, _ *aftercare.DueFollowUp) {
			b.clock.Advance(10 * time.Hour) // 20:00 London
		}, "snooze", aftercare.FollowUpScheduled},
		{"job from an older plan", func(t *testing.T, b bundle, _ *aftercare.DueFollowUp) {
			moved := sessionEnd.Add(24 * time.Hour)
			ev := aftercare.SessionEvent{EventID: "e7", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindRescheduled, NewSessionEnd: &moved,
				Client: &aftercare.Client{Phone: "+447700900123"}}
			if err := b.planner.Apply(context.Background(), 2, ev); err != nil {
				t.Fatal(err)
			}
		}, "ack", aftercare.FollowUpScheduled},
		{"another worker holds a fresh claim", func(t *testing.T, b bundle, _ *aftercare.DueFollowUp) {
			f, rev, _ := b.env.Store.FollowUp(context.Background(), "harbour", "s1", 1)
			f.Status, f.ClaimedAt = aftercare.FollowUpSending, b.clock.Now()
			if _, err := b.env.Store.SaveFollowUp(context.Background(), f, rev); err != nil {
				t.Fatal(err)
			}
		}, "snooze", aftercare.FollowUpSending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			job := b.plan(t, 1, "harbour")
			tt.prepare(t, b, &job)
			outcome(t, b.dispatcher.Send(context.Background(), job), tt.outcome)
			if n := b.twilio.Requests(); n != 0 {
				t.Errorf("%d send requests, want none", n)
			}
			if f := b.record(t, "harbour"); f.Status != tt.status {
				t.Errorf("record is %s, want %s", f.Status, tt.status)
			}
		})
	}
}

// claimedByADeadWorker marks step 1 as a worker claimed it and died before
// recording anything.
func (b bundle) claimedByADeadWorker(t *testing.T) {
	t.Helper()
	f, rev, _ := b.env.Store.FollowUp(context.Background(), "harbour", "s1", 1)
	f.Status, f.ClaimedAt, f.Attempts = aftercare.FollowUpSending, b.clock.Now(), 1
	if _, err := b.env.Store.SaveFollowUp(context.Background(), f, rev); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredClaimIsSentAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.claimedByADeadWorker(t)
	b.clock.Advance(31 * time.Second)
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	if n := len(b.twilio.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	if n := b.twilio.Lists(); n != 1 || b.dispatcher.Stats.Found.Load() != 0 {
		t.Errorf("Twilio asked %d times, found %d; want asked once, nothing found", n, b.dispatcher.Stats.Found.Load())
	}
}

// A worker that died after Twilio took the text, before recording it: the
// next attempt finds the text at Twilio and records it instead of sending.
func TestExpiredClaimFoundAtTwilioIsNotSentAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.claimedByADeadWorker(t)
	body, _ := tips.Render(1, tips.TipFields{Clinic: "Harbour Massage", ClinicPhone: "+442079460000"}, "", "en")
	// The dead worker's text, and the same client's text from another clinic.
	for _, m := range []sms.Message{{To: "+447700900123", From: "+447700900100", Body: body}, {To: "+447700900123", From: "+447700900555", Body: "Other: Day 1"}} {
		if _, err := b.dispatcher.Sender.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	b.clock.Advance(31 * time.Second)
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	msgs := b.twilio.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want the 2 already there", len(msgs))
	}
	if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpSent || f.MessageSID != msgs[0].SID || !f.MaybeSentSince.IsZero() {
		t.Errorf("record %+v, want sent with the dead worker's SID %s", f, msgs[0].SID)
	}
	if n := b.dispatcher.Stats.Found.Load(); n != 1 {
		t.Errorf("found %d, want 1", n)
	}
}

// A send that got no answer may have reached Twilio, which takes it late:
// the retry asks first, and finds it.
func TestUnansweredSendIsLookedUpBeforeTheRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.twilio.Script(twiliotest.Reply{Delay: 2500 * time.Millisecond}) // past the sender's 2 s timeout
	delay := outcome(t, b.dispatcher.Send(context.Background(), job), "retry")
	if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpScheduled || !f.MaybeSentSince.Equal(f.ClaimedAt) {
		t.Fatalf("after no answer: %+v, want scheduled and maybe sent since the claim", f)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.twilio.Count() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	b.clock.Advance(delay)
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	msgs := b.twilio.Messages()
	if f := b.record(t, "harbour"); len(msgs) != 1 || f.Status != aftercare.FollowUpSent || f.MessageSID != msgs[0].SID {
		t.Fatalf("record %+v after %d texts, want sent once, with the late text's SID", f, len(msgs))
	}
}

// An answer that says no (a 503 from Twilio, a 429) means nothing was taken
// only when it is a 4xx: a 5xx may hide a created message, so it is looked up.
func TestAnsweredFailuresAndTheLookup(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		reply  twiliotest.Reply
		lookup bool
	}{
		{twiliotest.Reply{Status: 429, Code: 20429, RetryAfter: "1"}, false},
		{twiliotest.Reply{Status: 503, HTML: true}, true},
	} {
		b := setup(t)
		job := b.plan(t, 1, "harbour")
		b.twilio.Script(tt.reply)
		delay := outcome(t, b.dispatcher.Send(context.Background(), job), "retry")
		b.clock.Advance(delay)
		outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
		if got := b.twilio.Lists() == 1; got != tt.lookup || b.twilio.Count() != 1 {
			t.Errorf("after a %d: looked up %v, want %v; %d texts", tt.reply.Status, got, tt.lookup, b.twilio.Count())
		}
	}
}

func TestRateLimitPerSender(t *testing.T) {
	t.Parallel()
	limits := dispatch.NewRateLimits(2, 1) // 2 per second, no burst
	reserve := func(sender string) (time.Duration, bool) {
		w, ok, err := limits.Reserve(context.Background(), sender)
		if err != nil {
			t.Fatal(err)
		}
		return w, ok
	}
	if w, ok := reserve("+447700900100"); !ok || w != 0 {
		t.Fatalf("first send waits %v", w)
	}
	if w, ok := reserve("+447700900100"); !ok || w < 400*time.Millisecond || w > 500*time.Millisecond {
		t.Fatalf("second send on the same sender waits %v, want ~500ms", w)
	}
	if w, ok := reserve("+15550000000"); !ok || w != 0 {
		t.Fatalf("another sender waits %v, want 0", w)
	}
	for range 8 {
		reserve("+447700900100")
	}
	if w, ok := reserve("+447700900100"); ok || w < 2*time.Second {
		t.Fatalf("a long queue should hand the job back, got wait %v ok %v", w, ok)
	}
}

// A reschedule that lands while the old plan's text is with Twilio keeps the
// new plan's record: the old text is sent, the new step still waits.
func TestRescheduleDuringSendKeepsTheNewPlan(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.twilio.Script(twiliotest.Reply{Delay: 300 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- b.dispatcher.Send(context.Background(), job) }()
	deadline := time.Now().Add(5 * time.Second)
	for b.twilio.Requests() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	newEnd := sessionEnd.Add(48 * time.Hour)
	moved := aftercare.SessionEvent{EventID: "e9", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindRescheduled, NewSessionEnd: &newEnd,
		Client: &aftercare.Client{Phone: "+447700900123"}}
	if err := b.planner.Apply(context.Background(), 2, moved); err != nil {
		t.Fatal(err)
	}
	outcome(t, <-done, "ack")
	if f := b.record(t, "harbour"); f.PlanVersion != 2 || f.Status != aftercare.FollowUpScheduled {
		t.Fatalf("record %+v, want plan 2 scheduled", f)
	}
}

// cancelAfterSend is a Sender whose job runs out of time just as Twilio
// answers: the send went through, the job's context is gone.
type cancelAfterSend struct {
	sms.Sender
	cancel context.CancelFunc
}

func (c cancelAfterSend) Send(ctx context.Context, m sms.Message) (string, error) {
	sid, err := c.Sender.Send(ctx, m)
	c.cancel()
	return sid, err
}

// A job whose time runs out the moment Twilio accepts the text still
// records it: otherwise the claim would expire and the text go twice.
func TestSendRecordedAfterTheJobsTimeRunsOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	ctx, cancel := context.WithCancel(context.Background())
	b.dispatcher.Sender = cancelAfterSend{Sender: b.dispatcher.Sender, cancel: cancel}
	outcome(t, b.dispatcher.Send(ctx, job), "ack")
	msgs := b.twilio.Messages()
	if f := b.record(t, "harbour"); len(msgs) != 1 || f.Status != aftercare.FollowUpSent || f.MessageSID != msgs[0].SID {
		t.Fatalf("record %+v after %d texts, want sent with the text's SID", f, len(msgs))
	}
}

// refusingFinder is a provider whose credential may send but not list.
type refusingFinder struct{ sms.Sender }

func (refusingFinder) FindSent(context.Context, sms.Message, time.Time) (string, error) {
	return "", &sms.PermanentError{Status: http.StatusForbidden, Code: 20003, Err: errors.New("not allowed to list")}
}

// A lookup the credential may not make sends again, as before the lookup
// existed, rather than holding the follow-up back for good.
func TestLookupRefusedSendsAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.plan(t, 1, "harbour")
	b.claimedByADeadWorker(t)
	b.dispatcher.Sender = refusingFinder{b.dispatcher.Sender}
	b.clock.Advance(31 * time.Second)
	outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
	if f := b.record(t, "harbour"); b.twilio.Count() != 1 || f.Status != aftercare.FollowUpSent {
		t.Errorf("%d texts, record %+v; want sent", b.twilio.Count(), f)
	}
}
