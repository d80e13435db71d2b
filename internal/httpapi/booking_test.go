package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

func calcomBody(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile("../booking/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	// Dates inside the validation window of the test clock.
	return strings.ReplaceAll(string(raw), "2026-11-24", now.Add(48*time.Hour).Format("2006-01-02"))
}

func (b bundle) hook(t *testing.T, path, body, signature string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.server.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("X-Cal-Signature-256", signature)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func calSign(body string) string {
	m := hmac.New(sha256.New, []byte(natsjstest.CalComSecret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestBookingWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created := calcomBody(t, "calcom_booking_created.json")

	// A system we have no adapter for: 404.
	if status, _ := b.hook(t, "/v1/hooks/zoho/harbour", created, calSign(created)); status != http.StatusNotFound {
		t.Errorf("zoho: %d, want 404", status)
	}
	// A clinic that does not exist, or does not use the system, is answered
	// exactly as a bad signature to a real one: the answers do not tell
	// which clinics exist.
	_, badSignature := b.hook(t, "/v1/hooks/calcom/harbour", created, calSign(created+" "))
	for _, path := range []string{"/v1/hooks/calcom/sol", "/v1/hooks/calcom/nobody", "/v1/hooks/calcom/" + strings.Repeat("x", 3000)} {
		if status, out := b.hook(t, path, created, calSign(created)); status != http.StatusUnauthorized || fmt.Sprint(out) != fmt.Sprint(badSignature) {
			t.Errorf("%.40s: %d %v, want 401 %v", path, status, out, badSignature)
		}
	}
	// Forged or missing signature: 401, nothing stored.
	for _, sig := range []string{"", "00" + calSign(created)[2:], calSign(created + " ")} {
		if status, out := b.hook(t, "/v1/hooks/calcom/harbour", created, sig); status != http.StatusUnauthorized || !strings.Contains(out["error"].(string), "signature") {
			t.Errorf("signature %q: %d %v", sig, status, out)
		}
	}
	if n := b.env.Count(t, natsjs.StreamSessions, "sessions.>"); n != 0 {
		t.Fatalf("%d events stored from refused webhooks", n)
	}

	// Good: 202, stored; the same webhook again is a duplicate.
	status, out := b.hook(t, "/v1/hooks/calcom/harbour", created, calSign(created))
	if status != http.StatusAccepted {
		t.Fatalf("good webhook: %d %v", status, out)
	}
	status, out = b.hook(t, "/v1/hooks/calcom/harbour", created, calSign(created))
	accepted, _ := out["accepted"].([]any)
	if status != http.StatusAccepted || len(accepted) != 1 || accepted[0].(map[string]any)["duplicate"] != true {
		t.Errorf("replayed webhook: %d %v", status, out)
	}
	// A reschedule is a cancellation and a new plan, stored together.
	moved := calcomBody(t, "calcom_booking_rescheduled.json")
	if status, out := b.hook(t, "/v1/hooks/calcom/harbour", moved, calSign(moved)); status != http.StatusAccepted || len(out["accepted"].([]any)) != 2 {
		t.Errorf("reschedule: %d %v", status, out)
	}
	if n := b.env.Count(t, natsjs.StreamSessions, "sessions.harbour.>"); n != 3 {
		t.Errorf("%d events stored, want 3", n)
	}

	// Unmappable: 422 with the reason, the payload kept for the clinic.
	noPhone := calcomBody(t, "calcom_no_phone.json")
	status, out = b.hook(t, "/v1/hooks/calcom/harbour", noPhone, calSign(noPhone))
	if status != http.StatusUnprocessableEntity || !strings.Contains(out["error"].(string), "no mobile number") {
		t.Errorf("no phone: %d %v", status, out)
	}
	if n := b.env.Count(t, natsjs.StreamDeadLetter, "deadletter.booking.harbour.calcom"); n != 1 {
		t.Errorf("%d refused bookings recorded, want 1", n)
	}
	// Ignored events are answered 200 and change nothing.
	ping := `{"triggerEvent":"PING","createdAt":"2026-11-20T09:00:00Z","payload":{}}`
	if status, out := b.hook(t, "/v1/hooks/calcom/harbour", ping, calSign(ping)); status != http.StatusOK || out["ignored"] == nil {
		t.Errorf("ping: %d %v", status, out)
	}
	if n := b.env.Count(t, natsjs.StreamSessions, "sessions.>"); n != 3 {
		t.Errorf("%d events after a refused and an ignored webhook, want 3", n)
	}
}
