package escalation

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// An ACK code is never one an unresolved escalation of the clinic holds:
// an ACK meant for one must not acknowledge another. A resolved one's code,
// or another clinic's, may be drawn again.
func TestAckCodesDoNotCollide(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	now := time.Now()
	for _, e := range []aftercare.Escalation{
		{ID: "esc_open", ClinicID: "harbour", Status: aftercare.EscalationOpen, AckCode: "4821", RaisedAt: now},
		{ID: "esc_acked", ClinicID: "harbour", Status: aftercare.EscalationAcknowledged, AckCode: "5555", RaisedAt: now},
		{ID: "esc_done", ClinicID: "harbour", Status: aftercare.EscalationResolved, AckCode: "6666", RaisedAt: now},
		{ID: "esc_sol", ClinicID: "sol", Status: aftercare.EscalationOpen, AckCode: "7777", RaisedAt: now},
	} {
		if _, err := env.Store.SaveEscalation(ctx, e, 0); err != nil {
			t.Fatal(err)
		}
	}
	draws := []string{"4821", "5555", "6666"}
	next := func() string { d := draws[0]; draws = draws[1:]; return d }
	if code, err := freeAckCode(ctx, env.Store, "harbour", next); err != nil || code != "6666" {
		t.Errorf("code %q (%v), want 6666: 4821 and 5555 are held by unresolved escalations", code, err)
	}
	draws = []string{"7777"}
	if code, err := freeAckCode(ctx, env.Store, "harbour", next); err != nil || code != "7777" {
		t.Errorf("code %q (%v): another clinic's code is free here", code, err)
	}
}
