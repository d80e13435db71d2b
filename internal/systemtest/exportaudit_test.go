package systemtest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// A client who texted STOP is erased: their STOP is kept (so no new
// session texts them), and an export then shows it, audited. That export
// stores nothing that names the client: before, its audit entry made the
// conversation a new audit id, under the conversation's id (a hash of the
// number) in aftercare_audit_ids, linking the number again. Through the
// real programs: the only place the number is left is the opt-out's key.
func TestExportAfterErasureStoresNoLinkToTheClient(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	store, js := s.store()
	const client = "+447700900613"
	ctx := context.Background()

	if status, _ := s.post(scheduler, event("ex-1", "ex-client", "completed", client, time.Now())); status != http.StatusAccepted {
		t.Fatalf("client's session: %d", status)
	}
	s.textAndWait(t, worker, store, client, "STOP")
	waitFor(t, 10*time.Second, "the client's STOP recorded", func() bool {
		out, err := store.OptedOut(ctx, "harbour", client)
		return err == nil && out
	})
	// An export while the client is held is filed under the conversation.
	if status, body := s.call(scheduler, http.MethodGet, "/v1/clients/%2B447700900613/export", token, ""); status != http.StatusOK {
		t.Fatalf("export before erasure: %d %s", status, body)
	}
	job, body := s.erase(t, scheduler, "%2B447700900613")
	if job.Result == nil || len(job.Result.Kept) == 0 {
		t.Fatalf("erasure: %s", body)
	}

	var x erasure.Export
	if status := s.getJSON(scheduler, "/v1/clients/%2B447700900613/export", token, &x); status != http.StatusOK || x.OptOut == "" {
		t.Fatalf("export after erasure: %d %+v, want the kept STOP", status, x)
	}
	conv := inbox.ConversationID("harbour", client)
	for _, hit := range natsjstest.Find(t, js, []string{"KV_" + natsjs.BucketOptOuts}, "447700900613", natsjs.Token(client), conv) {
		t.Errorf("after erasure and an export: %s", hit)
	}
	if n := natsjstest.CountSubjects(t, js, natsjs.StreamAudit, "staffaudit.harbour.clinic.harbour"); n != 1 {
		t.Errorf("%d entries under the clinic, want the export after the erasure", n)
	}
}
