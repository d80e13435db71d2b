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
)

// A staff reply retention kept, written since its client's last text, goes
// once it is past the clinic's age itself, though nothing else of the
// client is held by then to date them: the staff replies' numbers are
// dated too. Without it the reply stays until NATS_RETENTION.
func TestRetentionExpiresAKeptStaffReplyOnceItIsOld(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	now := time.Now()
	day := 24 * time.Hour
	phone := "+447700900712"
	last := now.Add(-11 * day)
	if err := st.NoteClientSession(ctx, "harbour", phone, aftercare.ClientSession{SessionID: "s712", End: last}, last); err != nil {
		t.Fatal(err)
	}
	box := &inbox.Store{S: st, Clinics: natsjstest.Clinics(t), Steps: 3}
	conv := inbox.Conversation{Summary: inbox.Summary{ID: inbox.ConversationID("harbour", phone), ClinicID: "harbour", Phone: phone}}
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_dana", Name: "Dana"}
	if _, err := box.Reply(ctx, conv, "Sorry to hear it: shall we book you in?", dana, last.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := box.Reply(ctx, conv, "Following up: is the stiffness easing?", dana, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	at := now
	clock := func() time.Time { return at }
	svc := &erasure.Service{Store: st, Inbox: box, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	r := &housekeeping.Retention{Store: st, Erasure: svc,
		Clinics: []aftercare.Clinic{{ID: "harbour", Retention: aftercare.Retention{TextsFor: 10 * day}}},
		Texts:   30 * day, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 10, Now: clock, Log: natsjstest.Logger()}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	outs, err := box.Outbound(ctx, "harbour", conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || !outs[0].CreatedAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("staff replies after the first run: %+v, want only the one written an hour ago", outs)
	}

	// A run finding nothing past the age changes nothing.
	if res, err := r.Run(ctx); err != nil || res.Clients != 0 {
		t.Fatalf("second run at once: %+v, %v; want no client expired", res, err)
	}
	at = now.Add(10 * day)
	res, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Clients != 1 {
		t.Errorf("retention 10 days on expired %d clients, want the one its staff reply names", res.Clients)
	}
	if outs, err := box.Outbound(ctx, "harbour", conv.ID); err != nil || len(outs) != 0 {
		t.Errorf("staff replies 10 days on: %d (%v), want none", len(outs), err)
	}
	if n := env.Count(t, natsjs.StreamOutbox, "outbox.harbour"); n != 0 {
		t.Errorf("%d outbox jobs 10 days on, want none", n)
	}
	for _, hit := range natsjstest.Find(t, env.Conn.JS, []string{"KV_" + natsjs.BucketConsent}, "447700900712", conv.ID) {
		t.Errorf("10 days on: %s", hit)
	}
}
