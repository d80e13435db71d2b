package natsjs

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/config"
)

// A fence passed by one copy says nothing of a copy a new watch made since:
// a question whose fence was reached by the old copy reads the store.
func TestDoNotTextViewAnswersOnlyFromTheCopyThatReachedItsFence(t *testing.T) {
	nc, _ := leanServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, store, err := Open(ctx, config.NATS{URL: nc.ConnectedUrl(), Replicas: 1, Retention: 30 * 24 * time.Hour}, t.Name(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := store.SetOptOut(ctx, "harbour", "+15556660000", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	view := NewDoNotTextView(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	// Copy 1 reached the round's fence; copy 2, new and empty, holds now.
	passed := &fenceRound{done: make(chan struct{}), passed: 1}
	close(passed.done)
	view.round, view.ready, view.copyNo, view.listed = passed, true, 2, map[string]struct{}{}
	if got, err := view.DoNotText(ctx, "harbour", "+15556660000"); got != "client opted out" || err != nil {
		t.Errorf("answered %q, %v from a copy that did not reach the fence", got, err)
	}
	// The copy that reached it answers.
	view.copyNo = 1
	if got, err := view.DoNotText(ctx, "harbour", "+15556660001"); got != "" || err != nil || view.Answered.Load() != 1 {
		t.Errorf("the copy that reached the fence: %q, %v, answered %d", got, err, view.Answered.Load())
	}
}
