package housekeeping_test

import (
	"context"
	"errors"
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
