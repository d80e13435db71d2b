package erasure_test

import (
	"context"
	"testing"

	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// Records that cannot be decoded do not stop an erasure: the client's own
// client and consent records and a reply naming their number are erased
// by key; an escalation of the clinic (kept anyway) and another client's
// reply are left as they are.
func TestEraseWithRecordsThatCannotBeDecoded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.client(t, "harbour", client, "s1", "SM01")
	js := b.env.Conn.JS
	put := func(bucket, key, value string) {
		t.Helper()
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	put(natsjs.BucketClients, natsjs.ClientKey("harbour", client), `not-json{`)
	put(natsjs.BucketConsent, natsjs.ConsentKey("harbour", client), `not-json{`)
	put(natsjs.BucketReplies, natsjs.ReplyKey("harbour", "SMhers"), `{"from":"`+client+`","body":`)
	put(natsjs.BucketReplies, natsjs.ReplyKey("harbour", "SMtheirs"), `{"from":"`+neighbour+`","body":`)
	put(natsjs.BucketEscalations, natsjs.EscalationKey("harbour", "esc_broken"), `{"id":`)

	res, err := b.svc.Erase(ctx, "harbour", client)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Erased.ClientRecord || !res.Erased.ConsentRecord || res.Erased.Replies != 2 {
		t.Errorf("erased: %+v, want the client and consent records and both of the client's replies", res.Erased)
	}
	for _, hit := range natsjstest.Find(t, js, []string{"KV_" + natsjs.BucketEscalations}, "447700900401") {
		t.Errorf("after erasure: %s", hit)
	}
	if n := b.env.Count(t, "KV_"+natsjs.BucketReplies, "$KV."+natsjs.BucketReplies+"."+natsjs.ReplyKey("harbour", "SMtheirs")); n != 1 {
		t.Errorf("the neighbour's undecodable reply: %d left, want it as it was", n)
	}
	if n := b.env.Count(t, "KV_"+natsjs.BucketEscalations, "$KV."+natsjs.BucketEscalations+"."+natsjs.EscalationKey("harbour", "esc_broken")); n != 1 {
		t.Errorf("the undecodable escalation: %d left, want it kept", n)
	}
}

// An audit entry of the client's conversation that cannot be decoded does
// not stop the erasure, nor hold up the reading of the history: it is
// passed over (the audit stream takes no deletes), and the answer counts
// it as kept, with why; the conversation's audit id is erased by its key
// all the same.
func TestEraseWithAnAuditEntryThatCannotBeDecoded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.client(t, "harbour", client, "s1", "SM01")
	conv := inbox.ConversationID("harbour", client)
	id, err := b.audit.ConversationAuditID(ctx, "harbour", conv, false)
	if err != nil || id == "" {
		t.Fatalf("audit id: %q %v", id, err)
	}
	if _, err := b.env.Conn.JS.Publish(ctx, "staffaudit.harbour.conversation."+natsjs.Token(id), []byte(`{"at":`)); err != nil {
		t.Fatal(err)
	}
	res, err := b.svc.Erase(ctx, "harbour", client)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]int{}
	for _, k := range res.Kept {
		kept[k.What] = k.Count
	}
	if kept["audit_entries"] != 2 || kept["audit_entries_undecodable"] != 1 {
		t.Errorf("kept %+v, want the two readable audit entries and the one that cannot be decoded", kept)
	}
	if again, err := b.audit.ConversationAuditID(ctx, "harbour", conv, false); err != nil || again != "" {
		t.Errorf("audit id after erasure: %q %v, want none", again, err)
	}
}
