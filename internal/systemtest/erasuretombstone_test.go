package systemtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// A tombstone never outlives its erasure, against the real scheduler: a
// DELETE whose job cannot be queued (the erasure stream gone) answers 503
// and leaves no tombstone, so the client's next session is accepted; a
// tombstone naming no job (a request that could not take it down again)
// is taken down by the sweep on RECONCILE_SCHEDULE. While a tombstone
// stands, a session sent over NATS with the number in its national form
// is refused with 409 as the E.164 form is.
func TestErasureTombstoneNeverStrandsAClient(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler", "RECONCILE_SCHEDULE=@every 1s")
	store, js := s.store()
	ctx := context.Background()
	const client, stranded = "+447700900631", "+447700900632"

	if err := js.DeleteStream(ctx, natsjs.StreamErasure); err != nil {
		t.Fatal(err)
	}
	if status, body := s.call(scheduler, http.MethodDelete, "/v1/clients/%2B447700900631", token, ""); status != http.StatusServiceUnavailable {
		t.Fatalf("erase with no erasure stream: %d %s, want 503", status, body)
	}
	if id, err := store.Erasing(ctx, "harbour", client); err != nil || id != "" {
		t.Errorf("tombstone after the failed DELETE: %q %v, want none", id, err)
	}
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", token, event("tn-1", "tn-client", "completed", client, time.Now())); status != http.StatusAccepted {
		t.Errorf("the client's session after the failed DELETE: %d %s, want 202", status, body)
	}

	if _, err := store.SetErasing(ctx, "harbour", stranded, "era_lost"); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := nats.NewMsg(natsjs.IntakeSubject)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Data = []byte(event("tn-2", "tn-stranded", "completed", "07700 900632", time.Now()))
	res, err := nc.RequestMsg(req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	if json.Unmarshal(res.Data, &reply) != nil || reply.Status != http.StatusConflict || !strings.Contains(reply.Error, "era_lost") {
		t.Errorf("NATS intake, national form, while the tombstone stands: %s, want 409 naming the job", res.Data)
	}
	waitFor(t, 30*time.Second, "the sweep to take the jobless tombstone down", func() bool {
		id, err := store.Erasing(ctx, "harbour", stranded)
		return err == nil && id == ""
	})
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", token, event("tn-3", "tn-stranded", "completed", stranded, time.Now())); status != http.StatusAccepted {
		t.Errorf("the client's session once the sweep ran: %d %s, want 202", status, body)
	}
}
