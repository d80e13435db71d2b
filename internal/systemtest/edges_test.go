package systemtest

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Hostile input at every edge: what a request names must stay within the
// bounds NATS can carry, and a refusal says which field is wrong.

// An over-long id in a URL path once made a NATS subject over nats-server's
// 4 KiB control line: the server closed the scheduler's connection and every
// clinic's intake failed until a restart. Run as the local setup runs (the
// nats-server embedded in the scheduler), each such request is refused with
// a 4xx naming the field, and the other clinic's intake carries on.
func TestOverlongIDsRefused(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler", "NATS_URL=", "NATS_EMBEDDED_DIR="+filepath.Join(t.TempDir(), "nats"), "NATS_EMBEDDED_LISTEN=none")
	for _, call := range []struct{ method, path, body, field string }{
		{http.MethodGet, "/v1/sessions/" + strings.Repeat("a", 5000), "", "session_id"},
		{http.MethodPost, "/v1/escalations/" + strings.Repeat("~", 3000) + "/acknowledge", `{"by":"x"}`, "escalation id"},
		{http.MethodGet, "/v1/escalations/" + strings.Repeat("%E2%80%8B", 10), "", "escalation id"}, // zero-width spaces
	} {
		status, body := s.call(scheduler, call.method, call.path, token, call.body)
		var resp struct {
			Problems []struct{ Field string } `json:"problems"`
		}
		_ = json.Unmarshal(body, &resp)
		if status != http.StatusBadRequest || len(resp.Problems) != 1 || resp.Problems[0].Field != call.field {
			t.Errorf("%s %.60s...: %d %.200s, want 400 naming %s", call.method, call.path, status, body, call.field)
		}
	}
	// An event whose ids are too long is refused whole, naming both.
	long := event(strings.Repeat("e", 200), strings.Repeat("s", 4000), "completed", "+525555550123", time.Now())
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", solToken, long); status != http.StatusUnprocessableEntity ||
		!strings.Contains(string(body), `"event_id"`) || !strings.Contains(string(body), `"session_id"`) {
		t.Errorf("event with over-long ids: %d %.300s, want 422 naming event_id and session_id", status, body)
	}

	// The other clinic's intake and the scheduler's readiness are unharmed.
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", solToken, event("after-1", "after-1", "completed", "+525555550123", time.Now())); status != http.StatusAccepted {
		t.Errorf("sol's event after the attempts: %d %s, want 202", status, body)
	}
	if status, body := s.call(scheduler, http.MethodGet, "/readyz", "", ""); status != http.StatusOK {
		t.Errorf("/readyz after the attempts: %d %s", status, body)
	}
	if logs := scheduler.Logs(); strings.Contains(logs, "maximum control line") {
		t.Errorf("nats-server saw an over-long control line:\n%s", logs)
	}
}
