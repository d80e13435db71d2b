package housekeeping_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/housekeeping"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// Retention never deletes an escalation someone has still to act on (open
// or acknowledged), however old, and counts a resolved one's age from its
// resolution: only the one resolved long ago goes.
func TestRetentionKeepsEscalationsStillOpen(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	day := 24 * time.Hour
	now := time.Now()
	old := now.Add(-3 * 365 * day) // past harbour's year
	for _, e := range []aftercare.Escalation{
		{ID: "esc_open", Status: aftercare.EscalationOpen},
		{ID: "esc_acked", Status: aftercare.EscalationAcknowledged},
		{ID: "esc_resolved_now", Status: aftercare.EscalationResolved, ResolvedAt: now.Add(-day)},
		{ID: "esc_resolved_long_ago", Status: aftercare.EscalationResolved, ResolvedAt: old.Add(day)},
	} {
		e.ClinicID, e.ClientPhone, e.RaisedAt = "harbour", "+447700900701", old
		if _, err := st.SaveEscalation(ctx, e, 0); err != nil {
			t.Fatal(err)
		}
	}
	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: &inbox.Store{S: st}, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	r := &housekeeping.Retention{Store: st, Erasure: svc, Texts: 30 * day, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 10,
		Clinics: []aftercare.Clinic{{ID: "harbour", Retention: aftercare.Retention{EscalationsFor: 365 * day}}},
		Now:     clock, Log: natsjstest.Logger()}
	res, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Escalations != 1 {
		t.Errorf("deleted %d escalations, want 1 (the one resolved long ago)", res.Escalations)
	}
	for id, kept := range map[string]bool{"esc_open": true, "esc_acked": true, "esc_resolved_now": true, "esc_resolved_long_ago": false} {
		_, _, err := st.Escalation(ctx, "harbour", id)
		if got := err == nil; got != kept {
			t.Errorf("escalation %s: kept %v (%v), want %v", id, got, err, kept)
		}
	}
}
