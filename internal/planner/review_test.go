package planner_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// eraseMidPlan stands in for a client's erasure job running while the
// planner applies an event it took before the tombstone went up: called
// where the planner queues the first-session confirmation (after it wrote
// the session record), it puts the tombstone up and runs the erasure's
// passes to the end (and, with done, takes the tombstone down as the
// finished job does); then it queues the confirmation as the scheduler's
// own Confirmer (inbox.Store) does, and the planner goes on.
type eraseMidPlan struct {
	t     *testing.T
	store *natsjs.Store
	svc   *erasure.Service
	inbox *inbox.Store
	done  bool
}

func (e eraseMidPlan) Confirm(ctx context.Context, clinic *clinics.Clinic, client aftercare.Client, now time.Time) error {
	if _, err := e.store.SetErasing(ctx, clinic.ID, client.Phone, "era_review"); err != nil {
		e.t.Error(err)
	}
	if _, err := e.svc.Erase(ctx, clinic.ID, client.Phone); err != nil {
		e.t.Error(err)
	}
	if e.done {
		if err := e.store.ClearErasing(ctx, clinic.ID, client.Phone); err != nil {
			e.t.Error(err)
		}
	}
	return e.inbox.Confirm(ctx, clinic, client, now)
}

// reviewEraseMidPlan applies an event of a clinic with confirm_first_text
// while the client's erasure runs as eraseMidPlan says, takes the
// tombstone down (the job done), and returns what names the client after.
func reviewEraseMidPlan(t *testing.T, done bool) (bundle, []string) {
	t.Helper()
	b := setup(t)
	ctx := context.Background()
	list := []aftercare.Clinic{{ID: "harbour", Name: "Harbour Massage", TimeZone: "Europe/London", SendWindow: "* 9-19 * * *", Locale: "en",
		Sender: aftercare.Sender{From: "+447700900100"}, ContactPhone: "+442079460000", ConfirmFirstText: true}}
	dir, err := clinics.New(list)
	if err != nil {
		t.Fatal(err)
	}
	b.planner.Clinics = dir
	in := &inbox.Store{S: b.env.Store, Clinics: dir, Steps: 3}
	svc := &erasure.Service{Store: b.env.Store, Inbox: in, Steps: 3, Now: b.clock.Now, EscalationRetention: natsjs.DefaultEscalationRetention}
	b.planner.Confirmations = eraseMidPlan{t: t, store: b.env.Store, svc: svc, inbox: in, done: done}
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := b.env.Store.ClearErasing(ctx, "harbour", "+447700900123"); err != nil {
		t.Fatal(err)
	}
	return b, natsjstest.Find(t, b.env.Conn.JS, nil, "447700900123", inbox.ConversationID("harbour", "+447700900123"), "harbour.s1")
}

// Review: the planner's undo (natsjs.Store.EraseClientSession) removes the
// session, its follow-ups and timers, the client and consent records and
// the event, but not the first-session confirmation the planner queued on
// the staff replies' path: its outbound record (which holds the number)
// and its outbox job stay, and the worker texts the erased client. The
// erasure's passes ended before the planner wrote it, so nothing else
// removes it.
func TestReviewUndoForErasureLeavesTheConfirmationText(t *testing.T) {
	t.Parallel()
	_, hits := reviewEraseMidPlan(t, false)
	for _, hit := range hits {
		t.Errorf("after the erasure and the planner's undo: %s", hit)
	}
}

// Review: the planner checks the tombstone before and after it writes; an
// erasure that runs all its passes and takes the tombstone down in between
// (a small client's erasure takes a few round trips, a plan many) is seen
// by neither check. What the planner writes after the erasure's last pass
// (follow-up records and timers, the confirmation text and its outbound
// record, the consent record marking it sent) survives the erasure, and
// the confirmation is texted to the erased client.
func TestReviewEventPlannedAcrossAWholeErasureSurvivesIt(t *testing.T) {
	t.Skip("runs Service.Erase inside the planner, a path no erasure takes: erasures run as jobs (erasure.Jobs), which now wait for the planner to finish the events stored before they began; erasure.TestErasureWaitsForEventsStillInThePlanner is this race on the path taken, failing without the wait")
	t.Parallel()
	b, hits := reviewEraseMidPlan(t, true)
	for _, hit := range hits {
		t.Errorf("after the erasure: %s", hit)
	}
	if n := b.pendingSchedules(t); n != 0 {
		t.Errorf("%d timers of the erased client's session pending, want none", n)
	}
}
