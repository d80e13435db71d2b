package httpapi_test

import (
	"context"
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

	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/planner"
	"github.com/aftercare/aftercare/internal/quota"
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

// A booking webhook whose events would pass a quota is refused whole with
// 429 naming it: the reschedule's cancellation is not stored either.
func TestBookingWebhookOverQuota(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.intake.Policy = plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour, Grace: 15 * time.Minute}
	b.intake.Quotas = &quota.Keeper{Counters: b.env.Store, Defaults: quota.Limits{PerClinic: 100, PerRecipient: 1}, Log: natsjstest.Logger()}
	created := calcomBody(t, "calcom_booking_created.json")
	if status, out := b.hook(t, "/v1/hooks/calcom/harbour", created, calSign(created)); status != http.StatusAccepted {
		t.Fatalf("first booking: %d %v", status, out)
	}
	// The move plans the same client's texts on the same days again.
	moved := calcomBody(t, "calcom_booking_rescheduled.json")
	status, out := b.hook(t, "/v1/hooks/calcom/harbour", moved, calSign(moved))
	if msg, _ := out["error"].(string); status != http.StatusTooManyRequests || !strings.Contains(msg, "1 texts a day to one client") {
		t.Errorf("reschedule over the quota: %d %v, want 429 naming the quota", status, out)
	}
	if n := b.env.Count(t, natsjs.StreamSessions, "sessions.>"); n != 1 {
		t.Errorf("%d events stored, want only the first booking's", n)
	}
}

// A repeated event is counted once: the repeat gives its count back. An
// event with every step due before it arrived is accepted, counts nothing,
// and says why.
func TestQuotaCountsAnEventOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.intake.Policy = plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour, Grace: 15 * time.Minute}
	b.intake.Quotas = &quota.Keeper{Counters: b.env.Store, Defaults: quota.Limits{PerClinic: 100, PerRecipient: 5}, Log: natsjstest.Logger()}
	for range 2 {
		if status, out := b.post(t, natsjstest.HarbourToken, goodEvent); status != http.StatusAccepted {
			t.Fatalf("%d %v", status, out)
		}
	}
	ctx := context.Background()
	for _, day := range []string{"2026-11-24", "2026-11-25", "2026-11-26"} {
		if n, err := b.env.Store.Counter(ctx, "harbour."+day); err != nil || n != 1 {
			t.Errorf("texts counted on %s: %d (%v), want 1", day, n, err)
		}
	}
	old := strings.NewReplacer(`"e1"`, `"e2"`, `"s1"`, `"s2"`, "2026-11-23T11:00:00Z", "2026-11-19T11:00:00Z").Replace(goodEvent)
	status, out := b.post(t, natsjstest.HarbourToken, old)
	if status != http.StatusAccepted || out["note"] != intake.NoteNothingToSend {
		t.Errorf("session 4 days old: %d %v, want 202 with the note %q", status, out, intake.NoteNothingToSend)
	}
	if n, _ := b.env.Store.Counter(ctx, "harbour.2026-11-23"); n != 0 {
		t.Errorf("a session with nothing to send counted %d texts", n)
	}
}

// A booking system retrying an event we had accepted and planned, after the
// client's quota has filled, is told it was accepted (a duplicate), not 429.
func TestRetryOfAnAcceptedEventAfterTheQuotaFilled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	policy := plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour, Grace: 15 * time.Minute}
	b.intake.Policy = policy
	b.intake.Quotas = &quota.Keeper{Counters: b.env.Store, Defaults: quota.Limits{PerClinic: 100, PerRecipient: 1}, Log: natsjstest.Logger()}
	if status, out := b.post(t, natsjstest.HarbourToken, goodEvent); status != http.StatusAccepted {
		t.Fatalf("%d %v", status, out)
	}
	p := &planner.Planner{Store: b.env.Store, Clinics: b.intake.Clinics, Policy: policy,
		Now: func() time.Time { return now }, Log: natsjstest.Logger(), Stats: &planner.Stats{}}
	ev, _ := intake.Decode([]byte(goodEvent))
	ev.ClinicID = "harbour"
	if err := p.Apply(context.Background(), 1, ev); err != nil {
		t.Fatal(err)
	}
	status, out := b.post(t, natsjstest.HarbourToken, goodEvent)
	if status != http.StatusAccepted || out["duplicate"] != true {
		t.Errorf("retry: %d %v, want 202 duplicate", status, out)
	}
	// A new event for the same client and days is over the quota.
	again := strings.NewReplacer(`"e1"`, `"e2"`, `"s1"`, `"s2"`).Replace(goodEvent)
	if status, out := b.post(t, natsjstest.HarbourToken, again); status != http.StatusTooManyRequests {
		t.Errorf("new event over the quota: %d %v, want 429", status, out)
	}
}
