package staff_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/staff"
)

// A conversation's entries are filed under a random audit id, not the id
// the inbox names it by (a hash of clinic and number); forgetting the
// conversation leaves them in the stream but found by no one.
func TestConversationEntriesUnlinkedWhenForgotten(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	js := b.env.Store.JetStream()
	audit := &staff.Audit{JS: js, Now: b.clock.now}
	conv := aftercare.ConversationID("harbour", "+447700900123")
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_1", Name: "Dana"}
	if err := audit.Record(ctx, staff.Entry{ClinicID: "harbour", Author: dana, Action: "reply", Kind: staff.KindConversation, Target: conv, Note: "out_1"}); err != nil {
		t.Fatal(err)
	}
	if h, err := audit.History(ctx, "harbour", staff.KindConversation, conv); err != nil || len(h) != 1 || h[0].Target == conv {
		t.Fatalf("history before: %+v %v", h, err)
	}
	// The link is in its bucket, and nowhere else.
	for _, hit := range natsjstest.Find(t, js, []string{"KV_" + natsjs.BucketAuditIDs}, conv) {
		t.Errorf("the inbox id outside its bucket: %s", hit)
	}
	if err := audit.ForgetConversation(ctx, "harbour", conv); err != nil {
		t.Fatal(err)
	}
	if h, err := audit.History(ctx, "harbour", staff.KindConversation, conv); err != nil || len(h) != 0 {
		t.Errorf("history after forgetting: %+v %v", h, err)
	}
	for _, hit := range natsjstest.Find(t, js, nil, conv) {
		t.Errorf("after forgetting: %s", hit)
	}
	if n := b.env.Count(t, natsjs.StreamAudit, ">"); n != 1 {
		t.Errorf("%d entries in the audit stream, want the one kept", n)
	}
}

// An earlier version's audit stream (replies' text, conversations by the
// unsalted hash, deletes denied) is copied without either and deleted;
// a conversation erased before the migration is linked to no one, and a
// second run has nothing to do.
func TestMigrateRetiredAuditStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	js := b.env.Store.JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: natsjs.RetiredStreamAudit, Subjects: []string{"audit.>"}, DenyDelete: true, DenyPurge: true}); err != nil {
		t.Fatal(err)
	}
	kept, erased := aftercare.ConversationID("harbour", "+447700900123"), aftercare.ConversationID("harbour", "+447700900124")
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_1", Name: "Dana"}
	old := []staff.Entry{
		{ClinicID: "harbour", Author: dana, Action: "reply", Kind: "conversation", Target: kept, Note: "ice the shoulder twice a day"},
		{ClinicID: "harbour", Author: dana, Action: "acknowledge", Kind: "conversation", Target: kept, Note: "esc_0001: rang the client about the swelling"},
		{ClinicID: "harbour", Author: dana, Action: "done", Kind: "conversation", Target: kept, Note: "handled"},
		{ClinicID: "harbour", Author: dana, Action: "reply", Kind: "conversation", Target: erased, Note: "see you thursday"},
		{ClinicID: "harbour", Author: dana, Action: "erase", Kind: "conversation", Target: erased, Note: "{}"},
		{ClinicID: "harbour", Author: dana, Action: "create_account", Kind: "account", Target: "stf_2", Note: "clinician Ben"},
	}
	for _, e := range old {
		data, _ := json.Marshal(e)
		if _, err := js.Publish(ctx, "audit.harbour."+e.Kind+"."+e.Target, data); err != nil {
			t.Fatal(err)
		}
	}
	audit := &staff.Audit{JS: js, Now: b.clock.now}
	res, err := audit.MigrateRetired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != len(old) || res.Unlinked != 1 || !res.Retired {
		t.Errorf("migrated %+v", res)
	}
	if _, err := js.Stream(ctx, natsjs.RetiredStreamAudit); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("the retired stream: %v, want it deleted", err)
	}
	for _, hit := range natsjstest.Find(t, js, []string{"KV_" + natsjs.BucketAuditIDs}, kept) {
		t.Errorf("after migration, the kept conversation's inbox id outside its bucket: %s", hit)
	}
	for _, hit := range natsjstest.Find(t, js, nil, erased, "ice the shoulder", "see you thursday", "esc_0001", "swelling") {
		t.Errorf("after migration: %s", hit)
	}
	h, err := audit.History(ctx, "harbour", staff.KindConversation, kept)
	if err != nil || len(h) != 3 || h[0].Note != staff.ReplyTextRemoved || h[2].Note != "handled" {
		t.Errorf("the kept conversation's history: %+v %v", h, err)
	}
	if h, err := audit.History(ctx, "harbour", staff.KindConversation, erased); err != nil || len(h) != 0 {
		t.Errorf("the erased conversation's history: %+v %v", h, err)
	}
	if h, err := audit.History(ctx, "harbour", "account", "stf_2"); err != nil || len(h) != 1 || h[0].Note != "clinician Ben" {
		t.Errorf("an account's history: %+v %v", h, err)
	}
	again, err := audit.MigrateRetired(ctx)
	if err != nil || again != (staff.Migrated{}) {
		t.Errorf("second run: %+v %v", again, err)
	}
	if n := b.env.Count(t, natsjs.StreamAudit, ">"); n != uint64(len(old)) {
		t.Errorf("%d entries, want %d", n, len(old))
	}
}
