package escalation_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// A plan written after an escalation's first pass over the session's
// records and before its write to the session (by a planner that stopped
// before reading the session again, which would have held it) is found by
// the second pass: a worker sends a planned job without reading the
// session, so no record of it may stay scheduled.
func TestSecondHoldFindsAPlanWrittenMeanwhile(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	session := aftercare.Session{ClinicID: "harbour", SessionID: "s1", Status: aftercare.SessionActive,
		Client: aftercare.Client{Phone: "+447700900123", TimeZone: "Europe/London"}, End: now.Add(-time.Hour), PlanVersion: 1, UpdatedAt: now}
	if _, err := env.Store.SaveSession(ctx, session, 0); err != nil {
		t.Fatal(err)
	}
	lifecycle := &escalation.Lifecycle{Store: env.Store, Clinics: natsjstest.Clinics(t), Now: func() time.Time { return now }, Log: natsjstest.Logger()}
	escalation.SetBetweenHolds(lifecycle, func() {
		for step := aftercare.Step(1); step <= 3; step++ {
			f := aftercare.FollowUp{ClinicID: "harbour", SessionID: "s1", Step: step, PlanVersion: 1,
				DueAt: now.Add(time.Duration(step) * 24 * time.Hour), Status: aftercare.FollowUpScheduled, UpdatedAt: now}
			if _, err := env.Store.SaveFollowUp(ctx, f, 0); err != nil {
				t.Error(err)
			}
		}
	})
	clinic, _ := lifecycle.Clinics.Lookup("harbour")
	reply := aftercare.Reply{InboundSMS: aftercare.InboundSMS{MessageSID: "SM1", From: "+447700900123", ReceivedAt: now}, SessionID: "s1"}
	_, cancelled, err := lifecycle.Raise(ctx, clinic, reply, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if cancelled != 3 {
		t.Errorf("Raise held %d tips, want the 3 written between its passes", cancelled)
	}
	fs, err := env.Store.FollowUps(ctx, "harbour", "s1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 {
		t.Fatalf("%d follow-up records, want 3", len(fs))
	}
	for _, f := range fs {
		if f.Status != aftercare.FollowUpCancelled {
			t.Errorf("step %d is %s after the escalation, want cancelled", f.Step, f.Status)
		}
	}
	if rec, _, _ := env.Store.Session(ctx, "harbour", "s1"); rec.EscalationID != "esc_SM1" {
		t.Errorf("session held by %q, want esc_SM1", rec.EscalationID)
	}
}
