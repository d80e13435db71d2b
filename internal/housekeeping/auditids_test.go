package housekeeping_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/housekeeping"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/staff"
)

// A conversation's audit id (aftercare_audit_ids, the link from the number
// to its audit entries) goes once nothing is held of the conversation:
// its client record, texts and inbox records went at their age (here the
// service's: the clinic has no retention of its own), so its id goes at
// the next retention run, even with what an erasure keeps (an escalation,
// a STOP, the consent record) still there. A conversation still held
// keeps its id and its history, at either clinic, one id a run with a
// bound of 1.
func TestRetentionForgetsAuditIDsOfConversationsNoLongerHeld(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	now := time.Now()
	audit := &staff.Audit{JS: st.JetStream(), Now: func() time.Time { return now }}
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_dana", Name: "Dana"}
	acted := func(clinic, phone string) string {
		t.Helper()
		conv := inbox.ConversationID(clinic, phone)
		if err := audit.Record(ctx, staff.Entry{ClinicID: clinic, Author: dana, Action: "done", Kind: staff.KindConversation, Target: conv}); err != nil {
			t.Fatal(err)
		}
		return conv
	}
	session := func(clinic, phone string) {
		t.Helper()
		if err := st.NoteClientSession(ctx, clinic, phone, aftercare.ClientSession{SessionID: "s" + phone[len(phone)-3:], End: now}, now); err != nil {
			t.Fatal(err)
		}
	}
	const (
		client  = "+447700900701" // a session still held
		expired = "+447700900702" // their client record went at its age
		inInbox = "+447700900703" // only the inbox's state of the conversation
		texted  = "+447700900704" // only a text from the number
		kept    = "+447700900705" // only what an erasure keeps
	)
	session("harbour", client)
	session("harbour", expired)
	if err := st.EraseKeys(ctx, natsjs.BucketClients, natsjs.ClientKey("harbour", expired)); err != nil { // as the bucket's age does
		t.Fatal(err)
	}
	in := &inbox.Store{S: st}
	if _, err := in.UpdateState(ctx, "harbour", inbox.ConversationID("harbour", inInbox), func(s *inbox.State) bool { s.ReadAt = now; return true }); err != nil {
		t.Fatal(err)
	}
	sms := aftercare.InboundSMS{MessageSID: "SM704", From: texted, To: "+447700900100", Body: "ok", ClinicID: "harbour", ReceivedAt: now}
	if _, err := st.SaveReply(ctx, aftercare.Reply{InboundSMS: sms}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveEscalation(ctx, aftercare.Escalation{ID: "esc_705", ClinicID: "harbour", ClientPhone: kept, RaisedAt: now, Status: aftercare.EscalationOpen}, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.AddConsent(ctx, "harbour", kept, aftercare.ConsentEntry{Kind: aftercare.ConsentGiven, At: now, Channel: "web_form", Wording: "Text me", RecordedAt: now}, now); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOptOut(ctx, "harbour", kept, true, now); err != nil {
		t.Fatal(err)
	}
	session("sol", expired)    // the same number, still held at sol
	convs := map[string]bool{} // conversation: whether its id stays
	for _, c := range []struct {
		clinic, phone string
		stays         bool
	}{{"harbour", client, true}, {"harbour", expired, false}, {"harbour", inInbox, true}, {"harbour", texted, true}, {"harbour", kept, false}, {"sol", expired, true}} {
		convs[acted(c.clinic, c.phone)] = c.stays
	}

	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: in, Audit: audit, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	r := &housekeeping.Retention{Store: st, Erasure: svc, Audit: svc.Audit, Texts: 30 * 24 * time.Hour, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 1,
		Clinics: []aftercare.Clinic{{ID: "harbour"}, {ID: "sol"}}, Now: clock, Log: natsjstest.Logger()}
	for i, want := range []housekeeping.RetentionResult{{AuditIDs: 1, More: true}, {AuditIDs: 1, More: true}, {}} {
		if res, err := r.Run(ctx); err != nil || res != want {
			t.Errorf("run %d: %+v %v, want %+v", i+1, res, err, want)
		}
	}

	for conv, stays := range convs {
		clinic := "harbour"
		if conv == inbox.ConversationID("sol", expired) {
			clinic = "sol"
		}
		id, err := audit.ConversationAuditID(ctx, clinic, conv, false)
		if err != nil {
			t.Fatal(err)
		}
		if (id != "") != stays {
			t.Errorf("%s's conversation %s: audit id %q, want it kept %v", clinic, conv, id, stays)
		}
		if !stays {
			for _, hit := range natsjstest.Find(t, st.JetStream(), nil, conv) {
				t.Errorf("after retention: %s", hit)
			}
		}
	}
	if h, err := audit.History(ctx, "harbour", staff.KindConversation, inbox.ConversationID("harbour", client)); err != nil || len(h) != 1 {
		t.Errorf("a held conversation's history: %+v %v, want its entry", h, err)
	}
}
