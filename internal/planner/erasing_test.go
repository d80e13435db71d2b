package planner_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// An event taken in before a client's erasure began and planned while it
// runs is dropped: planning it would make again what the erasure removes.
// Once the tombstone is down, the client's events are planned again.
func TestEventOfAClientBeingErasedIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.env.Store.SetErasing(ctx, "harbour", "+447700900123", "era_1"); err != nil {
		t.Fatal(err)
	}
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.env.Store.Session(ctx, "harbour", "s1"); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("session record: %v, want none", err)
	}
	if n := b.pendingSchedules(t); n != 0 {
		t.Errorf("%d timers, want none", n)
	}
	if err := b.env.Store.ClearErasing(ctx, "harbour", "+447700900123"); err != nil {
		t.Fatal(err)
	}
	if err := b.planner.Apply(ctx, 2, completed("e2", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := b.pendingSchedules(t); n != 3 {
		t.Errorf("%d timers after the erasure, want 3", n)
	}
}

// tombstoneRaiser stands in for a clinic requesting the client's erasure
// while the planner applies their event: it is called mid-plan.
type tombstoneRaiser struct {
	store *natsjs.Store
	t     *testing.T
}

func (r tombstoneRaiser) Confirm(ctx context.Context, clinic *clinics.Clinic, client aftercare.Client, _ time.Time) error {
	if _, err := r.store.SetErasing(ctx, clinic.ID, client.Phone, "era_mid"); err != nil {
		r.t.Error(err)
	}
	return nil
}

// An event whose client's erasure begins while it is being planned (after
// the planner's first look at the tombstone) is undone once written: the
// erasure may already have listed the client's sessions, and would leave
// this one and its timers to text the erased client.
func TestEventWrittenWhileItsClientsErasureBeginsIsUndone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	list := []aftercare.Clinic{{ID: "harbour", Name: "Harbour Massage", TimeZone: "Europe/London", SendWindow: "* 9-19 * * *", Locale: "en",
		Sender: aftercare.Sender{From: "+447700900100"}, ContactPhone: "+442079460000", ConfirmFirstText: true}}
	dir, err := clinics.New(list)
	if err != nil {
		t.Fatal(err)
	}
	b.planner.Clinics = dir
	b.planner.Confirmations = tombstoneRaiser{store: b.env.Store, t: t}
	if err := b.planner.Apply(ctx, 1, completed("e1", start.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.env.Store.Session(ctx, "harbour", "s1"); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("session record: %v, want none", err)
	}
	if n := b.pendingSchedules(t); n != 0 {
		t.Errorf("%d timers, want none", n)
	}
	if _, _, err := b.env.Store.Client(ctx, "harbour", "+447700900123"); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("client record: %v, want none", err)
	}
	for _, hit := range natsjstest.Find(t, b.env.Conn.JS, []string{"KV_" + natsjs.BucketErasing}, "447700900123", "harbour.s1") {
		t.Errorf("after the undo: %s", hit)
	}
}

// The tombstone is matched on the number as the clinic's phone rules read
// it: an event (from the NATS subject, a booking system) giving the
// client's number in its national, spaced form is dropped too.
func TestNationalFormEventOfAClientBeingErasedIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.env.Store.SetErasing(ctx, "harbour", "+447700900123", "era_1"); err != nil {
		t.Fatal(err)
	}
	ev := completed("e1", start.Add(-time.Hour))
	ev.Client.Phone = "07700 900123"
	if err := b.planner.Apply(ctx, 1, ev); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.env.Store.Session(ctx, "harbour", "s1"); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("session record: %v, want none", err)
	}
	if n := b.pendingSchedules(t); n != 0 {
		t.Errorf("%d timers, want none", n)
	}
}
