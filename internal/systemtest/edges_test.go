package systemtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/harness"
	"github.com/aftercare/aftercare/internal/natsjs"
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

// Numbers a clinic cannot or may not text are refused at intake with a 422
// naming client.phone and saying why, and nothing is texted to them; a
// national number is read in the clinic's country and texted in E.164.
func TestUntextableNumbersRefused(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	scheduler := s.start("scheduler")
	s.start("worker")
	refused := []struct{ number, why string }{
		{"020 7946 0000", "landline"},
		{"+1 900 555 0123", "premium-rate numbers cannot be texted"},
		{"+881 612 345 678", "satellite"},
		{"+882 345 678 901", "satellite"},
		{"+999 123 456", "country calling code"},
		{"+12345678", "not a valid phone number"},
		{"+52 55 5555 0123", "this clinic texts numbers in GB only"},
	}
	end := time.Now()
	for i, tt := range refused {
		status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", token, event(fmt.Sprint("bad-", i), fmt.Sprint("bad-", i), "completed", tt.number, end))
		var resp struct {
			Problems []struct{ Field, Message string } `json:"problems"`
		}
		_ = json.Unmarshal(body, &resp)
		if status != http.StatusUnprocessableEntity || len(resp.Problems) != 1 || resp.Problems[0].Field != "client.phone" ||
			!strings.Contains(resp.Problems[0].Message, tt.why) {
			t.Errorf("%s: %d %s, want 422 naming client.phone and saying %q", tt.number, status, body, tt.why)
		}
	}
	s.post(scheduler, event("good-1", "good-1", "completed", "07700 900321", end))
	if got := s.messagesTo("+447700900321", 3, 15*time.Second); len(got) != 3 {
		t.Fatalf("the national number got %d texts, want 3", len(got))
	}
	for _, m := range s.twilio.Messages() {
		if m.To != "+447700900321" {
			t.Errorf("a text went to %s", aftercare.MaskPhone(m.To))
		}
	}
}

// The strict decoder and the booking webhooks against the real scheduler:
// a key repeated under Unicode case folding is refused (encoding/json
// would keep the last), a name with a line break is refused naming
// client.name, and a webhook to a clinic that does not exist is answered
// exactly as a bad signature to one that does.
func TestHostileBodiesAndHooks(t *testing.T) {
	t.Parallel()
	s, scheduler, _ := crossClinicSetup(t)
	good := event("fold-1", "fold-1", "completed", "+447700900901", time.Now())
	folded := strings.Replace(good, `"session_id":"fold-1"`, `"session_id":"fold-1","\u017fession_id":"other"`, 1)
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", token, folded); status != http.StatusBadRequest || !strings.Contains(string(body), "appears more than once") {
		t.Errorf("session_id repeated as ſession_id: %d %s, want 400", status, body)
	}
	named := strings.Replace(good, `"phone"`, `"name":"Sam\r\nINFO forged","phone"`, 1)
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", token, named); status != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"client.name"`) {
		t.Errorf("name with CR LF: %d %s, want 422 naming client.name", status, body)
	}

	hook := func(clinic, secret string) (int, string) {
		body := []byte(`{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"x-1"}}`)
		req, _ := http.NewRequest(http.MethodPost, "http://"+scheduler.addr+"/v1/hooks/calcom/"+clinic, strings.NewReader(string(body)))
		req.Header.Set("X-Cal-Signature-256", calcomSignature(secret, body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	wantStatus, wantBody := hook("harbour", "not-harbours-key-000000000000001")
	if wantStatus != http.StatusUnauthorized {
		t.Fatalf("bad signature to harbour: %d %s", wantStatus, wantBody)
	}
	for _, clinic := range []string{"nobody", "harbour-old", strings.Repeat("x", 3000)} {
		if status, body := hook(clinic, bookingSecret); status != wantStatus || body != wantBody {
			t.Errorf("webhook to clinic %.20q: %d %s, want %d %s as for a bad signature", clinic, status, body, wantStatus, wantBody)
		}
	}
	_, js := s.store()
	if n := streamCount(t, js, natsjs.StreamSessions); n != 0 {
		t.Errorf("%d events stored from refused requests", n)
	}
}

// A password in NATS_URL is never printed: not in the error the scheduler
// exits with when it cannot connect, nor in any log line before it.
func TestNATSPasswordNotPrinted(t *testing.T) {
	t.Parallel()
	port, err := harness.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	clinics := filepath.Join(t.TempDir(), "clinics.json")
	if err := os.WriteFile(clinics, []byte(fmt.Sprintf(clinicsJSON, "https://clinic.example/hook")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "scheduler"))
	cmd.Env = []string{fmt.Sprintf("NATS_URL=nats://aftercare:s3cret-pass@127.0.0.1:%d", port), "HTTP_ADDR=127.0.0.1:0",
		"CLINICS_FILE=" + clinics, "HARBOUR_TOKEN=" + token, "SOL_TOKEN=" + solToken, "HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "ALLOW_ANY_SEND_WINDOW=true"}
	out, err := cmd.CombinedOutput() // gives up connecting after a minute
	if err == nil {
		t.Fatalf("scheduler ran without NATS:\n%s", out)
	}
	if strings.Contains(string(out), "s3cret-pass") {
		t.Errorf("the NATS password is printed:\n%s", out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Errorf("the error does not say which NATS it could not reach:\n%s", out)
	}
}
