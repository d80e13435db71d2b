package housekeeping_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/housekeeping"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// A clinic's own retention, shorter than the service's, is enforced by the
// housekeeping job, per kind, a bounded number each run: harbour keeps
// texts 10 days after a client's last session or text and escalations a
// year; sol keeps the service's ages (30 days, 8 years) but dead letters
// 20 days. Dead letters default to 14 days.
func TestRetentionPerClinicAndKind(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	// Dead letters are stamped by the server's clock: the job's runs 15
	// days ahead of it, so theirs are 15 days old.
	now := time.Now().Add(15 * 24 * time.Hour)
	day := 24 * time.Hour
	client := func(clinic, phone string, last time.Time) {
		t.Helper()
		if err := st.NoteClientSession(ctx, clinic, phone, aftercare.ClientSession{SessionID: "s" + phone[len(phone)-3:], End: last}, last); err != nil {
			t.Fatal(err)
		}
		in := aftercare.InboundSMS{MessageSID: "SM" + clinic + phone, From: phone, To: "+447700900100", Body: "ok", ClinicID: clinic, ReceivedAt: last}
		if _, err := st.SaveReply(ctx, aftercare.Reply{InboundSMS: in}, 0); err != nil {
			t.Fatal(err)
		}
	}
	client("harbour", "+447700900701", now.Add(-20*day)) // past harbour's 10 days
	client("harbour", "+447700900702", now.Add(-2*day))  // recent
	client("harbour", "+447700900703", now.Add(-11*day)) // past, erased on the next run
	client("sol", "+447700900701", now.Add(-20*day))     // within sol's 30 days
	for _, e := range []aftercare.Escalation{
		{ID: "esc_old", ClinicID: "harbour", ClientPhone: "+447700900702", RaisedAt: now.Add(-400 * day), Status: aftercare.EscalationResolved},
		{ID: "esc_new", ClinicID: "harbour", ClientPhone: "+447700900702", RaisedAt: now.Add(-30 * day), Status: aftercare.EscalationResolved},
		{ID: "esc_sol", ClinicID: "sol", ClientPhone: "+447700900701", RaisedAt: now.Add(-400 * day), Status: aftercare.EscalationResolved},
	} {
		if _, err := st.SaveEscalation(ctx, e, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, clinic := range []string{"harbour", "sol"} {
		if err := st.DeadLetter(ctx, "followup", clinic+".sx.1", []byte(`{}`), "given up"); err != nil {
			t.Fatal(err)
		}
	}

	clinicList := []aftercare.Clinic{
		{ID: "harbour", Retention: aftercare.Retention{TextsFor: 10 * day, EscalationsFor: 365 * day}},
		{ID: "sol", Retention: aftercare.Retention{DeadLettersFor: 20 * day}},
	}
	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: &inbox.Store{S: st}, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	r := &housekeeping.Retention{Store: st, Erasure: svc, Clinics: clinicList, Texts: 30 * day, Escalations: natsjs.DefaultEscalationRetention,
		MaxPerRun: 1, Now: clock, Log: natsjstest.Logger()}

	first, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first != (housekeeping.RetentionResult{Clients: 1, Escalations: 1, DeadLetters: 1, More: true}) {
		t.Errorf("first run: %+v", first)
	}
	second, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.Clients != 1 || second.Escalations != 0 || second.DeadLetters != 0 {
		t.Errorf("second run: %+v", second)
	}
	if third, err := r.Run(ctx); err != nil || third != (housekeeping.RetentionResult{}) {
		t.Errorf("third run: %+v, %v", third, err)
	}

	gone := func(clinic, phone string) bool {
		_, _, err := st.Client(ctx, clinic, phone)
		_, _, rerr := st.Reply(ctx, clinic, "SM"+clinic+phone)
		return errors.Is(err, aftercare.ErrNotFound) && errors.Is(rerr, aftercare.ErrNotFound)
	}
	for _, c := range []struct {
		clinic, phone string
		gone          bool
	}{{"harbour", "+447700900701", true}, {"harbour", "+447700900703", true}, {"harbour", "+447700900702", false}, {"sol", "+447700900701", false}} {
		if got := gone(c.clinic, c.phone); got != c.gone {
			t.Errorf("%s's client %s: gone %v, want %v", c.clinic, c.phone, got, c.gone)
		}
	}
	for _, c := range []struct {
		clinic, id string
		kept       bool
	}{{"harbour", "esc_old", false}, {"harbour", "esc_new", true}, {"sol", "esc_sol", true}} {
		_, _, err := st.Escalation(ctx, c.clinic, c.id)
		if kept := err == nil; kept != c.kept {
			t.Errorf("escalation %s: kept %v (%v), want %v", c.id, kept, err, c.kept)
		}
	}
	if n := env.Count(t, natsjs.StreamDeadLetter, "deadletter.followup.harbour.>"); n != 0 {
		t.Errorf("harbour's 15-day-old dead letter kept, past the 14-day default")
	}
	if n := env.Count(t, natsjs.StreamDeadLetter, "deadletter.followup.sol.>"); n != 1 {
		t.Errorf("sol's dead letter gone within its 20 days")
	}
}

// Review: a clinic's retention of texts (sessions, follow-ups, texts both
// ways, the inbox conversation) must not take the client's consent record,
// which README and docs/hipaa.md keep with no age limit as the evidence a
// TCPA dispute or 10DLC vetting asks for; with require_consent, a client
// back after the retention would have their follow-ups skipped for "no
// consent recorded". Retention erases the client through erasure.Erase,
// which deletes the consent record too.
func TestReviewRetentionOfTextsKeepsTheConsentRecord(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	day := 24 * time.Hour
	now := time.Now()
	last := now.Add(-20 * day)
	const phone = "+447700900711"
	if err := st.NoteClientSession(ctx, "harbour", phone, aftercare.ClientSession{SessionID: "s711", End: last}, last); err != nil {
		t.Fatal(err)
	}
	if err := st.AddConsent(ctx, "harbour", phone, aftercare.ConsentEntry{Kind: aftercare.ConsentGiven, At: last, Channel: "web_form",
		Wording: "Text me aftercare tips", SessionID: "s711", RecordedAt: last}, last); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: &inbox.Store{S: st}, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	r := &housekeeping.Retention{Store: st, Erasure: svc, Clinics: []aftercare.Clinic{{ID: "harbour", Retention: aftercare.Retention{TextsFor: 10 * day}}},
		Texts: 30 * day, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 10, Now: clock, Log: natsjstest.Logger()}
	res, err := r.Run(ctx)
	if err != nil || res.Clients != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if _, err := st.Consent(ctx, "harbour", phone); err != nil {
		t.Errorf("consent record after retention of texts: %v, want it kept (no age limit)", err)
	}
}

// Review: retention erases a client through erasure.Erase, with no
// tombstone, and the erasure deletes every session event that names the
// number. A client last seen 20 days ago who books again, whose new event
// is accepted (202) and waits in the stream for the planner when the job
// runs, loses that booking: the event is erased before it is planned, and
// no follow-up of the new session is ever texted.
func TestReviewRetentionDoesNotEraseANewBookingAwaitingThePlanner(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	day := 24 * time.Hour
	now := time.Now()
	last := now.Add(-20 * day)
	const phone = "+447700900712"
	if err := st.NoteClientSession(ctx, "harbour", phone, aftercare.ClientSession{SessionID: "s-old", End: last}, last); err != nil {
		t.Fatal(err)
	}
	end := now.Add(-time.Hour)
	ev := aftercare.SessionEvent{EventID: "ev-new", ClinicID: "harbour", SessionID: "s-new", Kind: aftercare.KindCompleted, SessionEnd: &end,
		Client: &aftercare.Client{Phone: phone}}
	if _, err := st.PublishEvent(ctx, "harbour", ev); err != nil { // what the intake does before answering 202
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: &inbox.Store{S: st}, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	r := &housekeeping.Retention{Store: st, Erasure: svc, Clinics: []aftercare.Clinic{{ID: "harbour", Retention: aftercare.Retention{TextsFor: 10 * day}}},
		Texts: 30 * day, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 10, Now: clock, Log: natsjstest.Logger()}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := env.Count(t, natsjs.StreamSessions, "sessions.harbour.s-new"); n != 1 {
		t.Errorf("the new booking's event, accepted and not yet planned: %d in the stream after retention, want 1", n)
	}
}

// Review: one record that cannot be decoded (a reply of harbour's) makes
// every run fail at harbour (Store.Replies returns natsjs.ErrCorrupt), and
// Run returns at the first error: sol, after harbour in the list, never has
// its retention enforced again.
func TestReviewOneCorruptRecordDoesNotStopOtherClinicsRetention(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	day := 24 * time.Hour
	now := time.Now()
	last := now.Add(-20 * day)
	const phone = "+447700900713"
	if err := st.NoteClientSession(ctx, "sol", phone, aftercare.ClientSession{SessionID: "s713", End: last}, last); err != nil {
		t.Fatal(err)
	}
	kv, err := env.Conn.JS.KeyValue(ctx, natsjs.BucketReplies)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, natsjs.ReplyKey("harbour", "SMbroken"), []byte(`{"message_sid":`)); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: &inbox.Store{S: st}, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	texts10 := aftercare.Retention{TextsFor: 10 * day}
	r := &housekeeping.Retention{Store: st, Erasure: svc, Clinics: []aftercare.Clinic{{ID: "harbour", Retention: texts10}, {ID: "sol", Retention: texts10}},
		Texts: 30 * day, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 10, Now: clock, Log: natsjstest.Logger()}
	for range 2 {
		if _, err := r.Run(ctx); err != nil {
			t.Logf("run: %v", err)
		}
	}
	if _, _, err := st.Client(ctx, "sol", phone); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("sol's client last seen 20 days ago, past its 10: %v, want erased", err)
	}
}

// A clinic whose retention fails (here an id no key filter takes, standing
// in for any store error) does not stop the clinics after it: Run goes on
// and returns the failure, naming the clinic.
func TestRetentionGoesOnPastAClinicThatFails(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	day := 24 * time.Hour
	now := time.Now()
	const phone = "+447700900714"
	last := now.Add(-20 * day)
	if err := st.NoteClientSession(ctx, "sol", phone, aftercare.ClientSession{SessionID: "s714", End: last}, last); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: &inbox.Store{S: st}, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	texts10 := aftercare.Retention{TextsFor: 10 * day}
	r := &housekeeping.Retention{Store: st, Erasure: svc, Clinics: []aftercare.Clinic{{ID: "bad id", Retention: texts10}, {ID: "sol", Retention: texts10}},
		Texts: 30 * day, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 10, Now: clock, Log: natsjstest.Logger()}
	res, err := r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "bad id") {
		t.Errorf("run: %v, want the failing clinic's error", err)
	}
	if res.Clients != 1 {
		t.Errorf("run: %+v, want sol's client erased", res)
	}
	if _, _, err := st.Client(ctx, "sol", phone); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("sol's client last seen 20 days ago, past its 10: %v, want erased", err)
	}
}
