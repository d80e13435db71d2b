package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DoNotTextView answers DoNotText for a worker from a copy of the
// do-not-text list's keys held in memory, kept current by a watch of the
// bucket, instead of asking nats-server once for every text.
//
// An answer is as fresh as a read made after the question was asked: each
// waits for a fence, the bucket's last revision asked of its stream's
// leader, to be in the copy. So a STOP recorded before a worker decides is
// seen, as with a read. One fence serves every question asked within a few
// milliseconds of each other: a round trip for a batch of texts instead of
// one for each.
//
// The copy says only which numbers are listed. A listed number is read
// from the store for the reason; that read also answers for a key an
// erasure purged, which leaves no marker for a watch to see. Whenever the
// copy cannot answer (starting, the watch lost, a fence not reached in
// time, more keys than MaxListed), questions are read from the store.
type DoNotTextView struct {
	store  *Store
	log    *slog.Logger
	gather time.Duration // how long a fence waits for more questions
	reach  time.Duration // how long a fence waits for the watch to reach it

	wake chan struct{} // a question is waiting for a fence
	lag  time.Duration // for tests: a watch that lags this far behind

	// Answered counts answers the copy gave, Read those read from the
	// store (a listed number, or the copy unable to answer).
	Answered, Read atomic.Int64

	mu      sync.Mutex
	listed  map[string]struct{}
	applied uint64        // the bucket's last revision in the copy
	ready   bool          // the copy holds the bucket as of its watch's start
	moved   chan struct{} // closed when applied moves or the copy stops
	round   *fenceRound   // the fence that questions asked now wait for
}

// fenceRound is one fence: done closes when it is passed (ok) or failed.
type fenceRound struct {
	done chan struct{}
	ok   bool
}

// MaxListed is the most numbers a DoNotTextView holds, about 20 MB; with
// more, it steps aside and every question is read from the store.
const MaxListed = 250_000

// rebuildEvery bounds how long the copy keeps a key that an erasure purged.
const rebuildEvery = time.Hour

// NewDoNotTextView makes a view of the store's do-not-text list; Run keeps
// it current, and until it does, questions are read from the store.
func NewDoNotTextView(store *Store, log *slog.Logger) *DoNotTextView {
	return &DoNotTextView{
		store: store, log: log, gather: 5 * time.Millisecond, reach: 500 * time.Millisecond,
		wake: make(chan struct{}, 1), moved: make(chan struct{}),
		round: &fenceRound{done: make(chan struct{})},
	}
}

// DoNotText returns why a clinic must not text a number, or "" when it may,
// as Store.DoNotText does.
func (v *DoNotTextView) DoNotText(ctx context.Context, clinic, phone string) (string, error) {
	key := optOutKey(clinic, phone)
	v.mu.Lock()
	ready, round := v.ready, v.round
	v.mu.Unlock()
	if !ready {
		return v.read(ctx, clinic, phone)
	}
	select {
	case v.wake <- struct{}{}:
	default: // the fencer is awake already
	}
	select {
	case <-round.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if !round.ok {
		return v.read(ctx, clinic, phone)
	}
	v.mu.Lock()
	_, listed := v.listed[key]
	v.mu.Unlock()
	if !listed {
		v.Answered.Add(1)
		return "", nil
	}
	return v.read(ctx, clinic, phone)
}

func (v *DoNotTextView) read(ctx context.Context, clinic, phone string) (string, error) {
	v.Read.Add(1)
	return v.store.DoNotText(ctx, clinic, phone)
}

// Run keeps the copy current until ctx ends: it watches the bucket, and
// starts over when the watch ends, a fence is missed, or an hour passes.
func (v *DoNotTextView) Run(ctx context.Context) {
	stream, err := v.store.js.Stream(ctx, "KV_"+BucketOptOuts)
	for err != nil {
		v.log.Warn("do-not-text list: no stream yet; reading it for each text", "err", err)
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
		stream, err = v.store.js.Stream(ctx, "KV_"+BucketOptOuts)
	}
	missed := make(chan struct{}, 1)
	fenced := make(chan struct{})
	go func() { defer close(fenced); v.fence(ctx, stream, missed) }()
	defer func() { <-fenced }()
	for ctx.Err() == nil {
		err := v.watch(ctx, stream, missed)
		v.stop()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			v.log.Warn("do-not-text list: watch ended; reading it for each text until it is back", "err", err)
			if sleepCtx(ctx, time.Second) != nil {
				return
			}
		}
	}
}

// errFenceMissed ends a watch that did not reach a fence in time: it may
// be waiting for a revision that was purged before it got there.
var errFenceMissed = errors.New("the watch did not reach a fence in time")

// watch fills the copy from a new watch and applies its updates; it
// returns nil to be rebuilt after rebuildEvery.
func (v *DoNotTextView) watch(ctx context.Context, stream jetstream.Stream, missed <-chan struct{}) error {
	select {
	case <-missed: // by the watch before this one
	default:
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	// Every revision up to this one that still stands is in the watch's
	// first values, and the copy holds it once they are in.
	start := info.State.LastSeq
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := v.store.optOuts.WatchAll(wctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	listed := map[string]struct{}{}
	var applied uint64
	rebuild := time.NewTimer(rebuildEvery)
	defer rebuild.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-rebuild.C:
			return nil
		case <-missed:
			return errFenceMissed
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil { // the first values are in
				v.mu.Lock()
				v.listed, v.ready = listed, true
				v.advance(max(applied, start))
				v.mu.Unlock()
				continue
			}
			time.Sleep(v.lag)
			v.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				listed[e.Key()] = struct{}{}
			} else {
				delete(listed, e.Key())
			}
			applied = e.Revision()
			if v.ready {
				v.advance(applied)
			}
			v.mu.Unlock()
			if len(listed) > MaxListed {
				v.stop()
				v.log.Warn("do-not-text list: too many numbers to hold; reading it for each text", "max", MaxListed)
				select {
				case <-ctx.Done():
				case <-rebuild.C: // try again: numbers come off the list too
				}
				return nil
			}
		}
	}
}

// advance records that the copy holds the bucket through revision rev, and
// wakes a fence waiting for it. The caller holds v.mu.
func (v *DoNotTextView) advance(rev uint64) {
	v.applied = max(v.applied, rev)
	close(v.moved)
	v.moved = make(chan struct{})
}

// stop marks the copy unusable until a watch fills it again.
func (v *DoNotTextView) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ready, v.listed, v.applied = false, nil, 0
	close(v.moved)
	v.moved = make(chan struct{})
}

// fence passes rounds of questions: after the first question of a round, it
// waits a moment for more, asks the stream's leader for its last revision,
// and waits for the copy to hold it.
func (v *DoNotTextView) fence(ctx context.Context, stream jetstream.Stream, missed chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			v.mu.Lock()
			close(v.round.done) // ok is false: anyone left reads the store
			v.mu.Unlock()
			return
		case <-v.wake:
		}
		if sleepCtx(ctx, v.gather) != nil {
			continue
		}
		v.mu.Lock()
		round := v.round
		v.round = &fenceRound{done: make(chan struct{})}
		v.mu.Unlock()
		round.ok = v.reachLast(ctx, stream, missed)
		close(round.done)
	}
}

// reachLast waits until the copy holds the bucket's last revision as its
// stream's leader tells it now.
func (v *DoNotTextView) reachLast(ctx context.Context, stream jetstream.Stream, missed chan<- struct{}) bool {
	ctx, cancel := context.WithTimeout(ctx, v.reach)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		return false
	}
	last := info.State.LastSeq
	for {
		v.mu.Lock()
		ready, applied, moved := v.ready, v.applied, v.moved
		v.mu.Unlock()
		switch {
		case !ready:
			return false
		case applied >= last:
			return true
		}
		select {
		case <-moved:
		case <-ctx.Done():
			select {
			case missed <- struct{}{}:
			default:
			}
			return false
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("stopped: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
