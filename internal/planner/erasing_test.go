package planner_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
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
