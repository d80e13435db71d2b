package intake_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/plan"
)

// An event sent on the NATS intake subject (intake.Service.Reply, as the
// scheduler's subscriber calls it) for a client being erased is refused
// with 409 however it writes the number: the tombstone is keyed by the
// E.164 number, and the event's is read with the clinic's phone rules
// (national numbers in its country) before it is looked up.
func TestNATSEventOfAClientBeingErasedIsRefusedInAnyNumberForm(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	svc := &intake.Service{Store: env.Store, Clinics: natsjstest.Clinics(t), Now: func() time.Time { return now }, Log: natsjstest.Logger(),
		MaxBody: 4096, Results: &intake.Results{}, Policy: plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour}}
	if _, err := env.Store.SetErasing(ctx, "harbour", "+447700900401", "era_1"); err != nil {
		t.Fatal(err)
	}
	for i, number := range []string{"+447700900401", "07700 900401", "07700900401", "+44 7700 900401", "+44 (0)7700 900401"} {
		body := `{"event_id":"e` + string(rune('a'+i)) + `","session_id":"s1","kind":"completed","session_end":"2026-12-01T11:00:00Z",` +
			`"client":{"phone":"` + number + `"}}`
		got := svc.Reply(ctx, "Bearer "+natsjstest.HarbourToken, []byte(body))
		if got.Status != http.StatusConflict || got.ErrorResponse == nil || !strings.Contains(got.Error, "era_1") {
			t.Errorf("%q: status %d %+v, want 409 naming the erasure job", number, got.Status, got.ErrorResponse)
		}
	}
	if n := env.Count(t, natsjs.StreamSessions, "sessions.>"); n != 0 {
		t.Errorf("%d events stored for the client being erased, want none", n)
	}
}
