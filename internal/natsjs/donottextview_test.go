package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// runView runs a view of store's do-not-text list for the test and waits
// until its copy answers.
func runView(t *testing.T, store *natsjs.Store) *natsjs.DoNotTextView {
	t.Helper()
	view := natsjs.NewDoNotTextView(store, natsjstest.Logger())
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); view.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := view.DoNotText(ctx, "probe", "+15550000000"); err != nil {
			t.Fatal(err)
		}
		if view.Answered.Load() > 0 {
			return view
		}
		if time.Now().After(deadline) {
			t.Fatal("the view's copy never answered")
		}
	}
}

// askAfterEachWrite writes each change to a number's entry on the list and
// asks the view at once, from many goroutines: every answer must be the
// one a read made then would give, or a STOP just recorded would be missed.
func askAfterEachWrite(t *testing.T, writes *natsjs.Store, view *natsjs.DoNotTextView) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 8 {
				clinic, phone := "harbour", fmt.Sprintf("+1555%03d%04d", g, i)
				ask := func(when, want string) {
					got, err := view.DoNotText(ctx, clinic, phone)
					if err != nil || got != want {
						t.Errorf("%s %s: view says %q, %v; want %q", phone, when, got, err, want)
					}
					// Another clinic's list is its own.
					if other, err := view.DoNotText(ctx, "elm-street", phone); err != nil || other != "" {
						t.Errorf("%s %s: at another clinic the view says %q, %v", phone, when, other, err)
					}
				}
				steps := []struct {
					when, want string
					write      func() error
				}{
					{"after STOP", "client opted out", func() error { return writes.SetOptOut(ctx, clinic, phone, true, now) }},
					{"after START", "", func() error { return writes.SetOptOut(ctx, clinic, phone, false, now) }},
					{"after a failing mark", "number failing: Twilio error 21211 since 2026-12-02T09:00:00Z", func() error {
						return writes.MarkFailing(ctx, clinic, phone, "Twilio error 21211", now)
					}},
					{"after the mark is cleared", "", func() error { return writes.ClearFailing(ctx, clinic, phone) }},
					{"after a second STOP", "client opted out", func() error { return writes.SetOptOut(ctx, clinic, phone, true, now) }},
				}
				ask("before any", "")
				for _, step := range steps {
					if err := untilAnswered(ctx, step.write); err != nil {
						t.Error(err)
						return
					}
					ask(step.when, step.want)
				}
			}
		})
	}
	wg.Wait()
}

// untilAnswered repeats a write that no stream leader answered: on a
// cluster under load, a leader election can outlast nats.go's own retries.
func untilAnswered(ctx context.Context, write func() error) error {
	for {
		err := write()
		if !errors.Is(err, jetstream.ErrNoStreamResponse) && !errors.Is(err, nats.ErrNoResponders) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// settledLeader waits until stream has had the same leader, and only the
// leader has answered the fences' question, for a second: just after a
// stream is made its leadership may still move, and its preferred member
// may answer for a while as well.
func settledLeader(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string) {
	t.Helper()
	var leader string
	var since time.Time
	for time.Since(since) < time.Second || leader == "" {
		if ctx.Err() != nil {
			t.Fatalf("stream %s: no settled leader: %v", stream, ctx.Err())
		}
		// Errors are the election this waits out: ask again.
		info, err := streamInfo(ctx, js, stream)
		_, fenceErr := natsjs.LeaderLastSeq(ctx, js.Conn(), stream)
		if err != nil || fenceErr != nil || info.Cluster == nil || info.Cluster.Leader != leader {
			leader, since = "", time.Now()
			if err == nil && fenceErr == nil && info.Cluster != nil {
				leader = info.Cluster.Leader
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDoNotTextViewAnswersAsAReadMadeThen(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	view := runView(t, env.Store)
	askAfterEachWrite(t, env.Store, view)
	t.Logf("answered from the copy %d times, read %d times", view.Answered.Load(), view.Read.Load())
	if view.Answered.Load() < 32*8*4 {
		t.Errorf("the copy answered %d times: the view read the store instead", view.Answered.Load())
	}

	// An erasure purges a failing mark, leaving nothing for a watch to
	// see; a listed number is read, and the read says it may be texted.
	ctx := context.Background()
	now := time.Now()
	if err := env.Store.MarkFailing(ctx, "harbour", "+15559990000", "Twilio error 21211", now); err != nil {
		t.Fatal(err)
	}
	if got, _ := view.DoNotText(ctx, "harbour", "+15559990000"); got == "" {
		t.Fatal("a failing mark not seen")
	}
	if _, erased, err := env.Store.EraseOptOutKey(ctx, "harbour", "+15559990000"); err != nil || !erased {
		t.Fatalf("erase the mark: %v, %v", erased, err)
	}
	if got, err := view.DoNotText(ctx, "harbour", "+15559990000"); got != "" || err != nil {
		t.Errorf("after its mark was erased the view says %q, %v", got, err)
	}
}

// TestDoNotTextViewWaitsForALaggingWatch: the copy may be behind the
// bucket, and each answer waits for it to hold what was written before
// the question.
func TestDoNotTextViewWaitsForALaggingWatch(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	view := runView(t, env.Store)
	natsjs.LagDoNotTextWatch(view, 50*time.Millisecond)
	ctx := context.Background()
	readBefore := view.Read.Load()
	for i := range 10 {
		phone := fmt.Sprintf("+155577%05d", i)
		if err := env.Store.SetOptOut(ctx, "harbour", phone, true, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got, err := view.DoNotText(ctx, "harbour", phone); got != "client opted out" || err != nil {
			t.Errorf("right after a STOP, with the watch 50 ms behind: %q, %v", got, err)
		}
		answered := view.Answered.Load()
		if got, err := view.DoNotText(ctx, "harbour", phone+"9"); got != "" || err != nil || view.Answered.Load() != answered+1 {
			t.Errorf("a number not listed: %q, %v, answered by the copy: %v", got, err, view.Answered.Load() == answered+1)
		}
	}
	if read := view.Read.Load() - readBefore; read != 10 { // the listed numbers, read for the reason
		t.Errorf("read %d times: the copy did not answer", read)
	}
}

// TestDoNotTextViewPastARevisionPurged: an erasure purged the bucket's last
// message, so no watch ever delivers the revision the leader calls last;
// the copy still answers, once the leader says nothing after it remains.
func TestDoNotTextViewPastARevisionPurged(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	if err := env.Store.SetOptOut(ctx, "harbour", "+15558880000", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.MarkFailing(ctx, "harbour", "+15558880001", "Twilio error 21211", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, erased, err := env.Store.EraseOptOutKey(ctx, "harbour", "+15558880001"); err != nil || !erased {
		t.Fatalf("erase the mark: %v, %v", erased, err)
	}
	view := runView(t, env.Store) // fails unless the copy answers
	answered := view.Answered.Load()
	for phone, want := range map[string]string{"+15558880000": "client opted out", "+15558880001": "", "+15558880002": ""} {
		if got, err := view.DoNotText(ctx, "harbour", phone); got != want || err != nil {
			t.Errorf("%s: %q, %v; want %q", phone, got, err, want)
		}
	}
	if view.Answered.Load() != answered+2 {
		t.Errorf("the copy answered %d of the two numbers not listed", view.Answered.Load()-answered)
	}
}

func TestDoNotTextViewOnAClusterAnswersAsALeaderRead(t *testing.T) {
	t.Parallel()
	cluster := natsjstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func(url string) *natsjs.Store {
		_, store := openReplicated(ctx, t, url)
		return store
	}
	// Written through one server, asked through another.
	writes := open(cluster.Servers[0].ClientURL())
	asks, asksStore := openReplicated(ctx, t, cluster.Servers[2].ClientURL())
	// The test is of freshness, not of an election: the copy reads the
	// store while a fence finds no leader.
	settledLeader(ctx, t, asks.JS, "KV_"+natsjs.BucketOptOuts)
	view := runView(t, asksStore)
	askAfterEachWrite(t, writes, view)
	if view.Answered.Load() < 32*8*4 {
		t.Errorf("the copy answered %d times: the view read the store instead", view.Answered.Load())
	}
}

func TestDoNotTextViewNotRunningReadsTheStore(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	if err := env.Store.SetOptOut(ctx, "harbour", "+15551230000", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	view := natsjs.NewDoNotTextView(env.Store, natsjstest.Logger())
	ask := func(when string) {
		t.Helper()
		if got, err := view.DoNotText(ctx, "harbour", "+15551230000"); got != "client opted out" || err != nil {
			t.Errorf("%s: %q, %v", when, got, err)
		}
		if got, err := view.DoNotText(ctx, "harbour", "+15551230001"); got != "" || err != nil {
			t.Errorf("%s, a number not listed: %q, %v", when, got, err)
		}
	}
	ask("before it runs")
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); view.Run(runCtx) }()
	stop()
	<-stopped
	ask("after it stopped")
	if view.Answered.Load() != 0 || view.Read.Load() != 4 {
		t.Errorf("answered %d, read %d: want every answer read", view.Answered.Load(), view.Read.Load())
	}
}
