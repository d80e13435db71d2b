package natsjs

import (
	"context"
	"encoding/json"
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
// waits for a fence, the bucket's last revision as its stream's leader
// gives it after the question, to be in the copy. So a STOP recorded before
// a worker decides is seen, as with a read. One fence serves every question
// asked within a few milliseconds of each other, under load: a round trip
// for a batch of texts instead of one for each.
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
	reach  time.Duration // how long a fence waits for the copy to reach it
	gaps   time.Duration // how long before a fence asks whether the copy waits for a purged revision

	wake chan struct{} // a question is waiting for a fence
	lag  atomic.Int64  // for tests: a watch that applies each change this late (ns)

	// Answered counts answers the copy gave, Read those read from the
	// store (a listed number, or the copy unable to answer).
	Answered, Read atomic.Int64

	mu      sync.Mutex
	listed  map[string]struct{}
	applied uint64        // the bucket's last revision in the copy
	copyNo  uint64        // each watch's copy has its own number
	ready   bool          // the copy holds the bucket as its watch began
	moved   chan struct{} // closed when applied moves or the copy stops
	round   *fenceRound   // the fence that questions asked now wait for
}

// fenceRound is one fence; done closes when it is passed or failed.
type fenceRound struct {
	done   chan struct{}
	asked  int    // questions waiting for it (under v.mu)
	passed uint64 // the copyNo of the copy that reached the fence; 0: failed
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
		store: store, log: log, gather: 5 * time.Millisecond, reach: 500 * time.Millisecond, gaps: 100 * time.Millisecond,
		wake: make(chan struct{}, 1), moved: make(chan struct{}),
		round: &fenceRound{done: make(chan struct{})},
	}
}

// DoNotText returns why a clinic must not text a number, or "" when it may,
// as Store.DoNotText does.
func (v *DoNotTextView) DoNotText(ctx context.Context, clinic, phone string) (string, error) {
	v.mu.Lock()
	ready, round := v.ready, v.round
	round.asked++
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
	v.mu.Lock()
	// Only the copy that reached the fence holds what it promises: one
	// made since by a new watch may not have caught up yet.
	current := round.passed != 0 && round.passed == v.copyNo && v.ready
	_, listed := v.listed[optOutKey(clinic, phone)]
	v.mu.Unlock()
	if !current || listed {
		return v.read(ctx, clinic, phone)
	}
	v.Answered.Add(1)
	return "", nil
}

func (v *DoNotTextView) read(ctx context.Context, clinic, phone string) (string, error) {
	v.Read.Add(1)
	return v.store.DoNotText(ctx, clinic, phone)
}

// Run keeps the copy current until ctx ends: it watches the bucket, and
// starts over when the watch ends, a fence is missed, or an hour passes.
func (v *DoNotTextView) Run(ctx context.Context) {
	_, err := v.store.js.Stream(ctx, "KV_"+BucketOptOuts)
	for err != nil {
		v.log.Warn("do-not-text list: no stream yet; reading it for each text", "err", err)
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
		_, err = v.store.js.Stream(ctx, "KV_"+BucketOptOuts)
	}
	missed := make(chan struct{}, 1)
	fenced := make(chan struct{})
	go func() { defer close(fenced); v.fence(ctx, missed) }()
	defer func() { <-fenced }()
	for ctx.Err() == nil {
		err := v.watch(ctx, missed)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errTooMany):
			v.log.Warn("do-not-text list: too many numbers to hold; reading it for each text", "max", MaxListed)
			// Try again later: numbers come off the list too.
			if sleepCtx(ctx, rebuildEvery) != nil {
				return
			}
		case err != nil:
			v.log.Warn("do-not-text list: watch ended; reading it for each text until it is back", "err", err)
			if sleepCtx(ctx, time.Second) != nil {
				return
			}
		}
	}
}

var (
	// errFenceMissed ends a watch that did not reach a fence in time.
	errFenceMissed = errors.New("the watch did not reach a fence in time")
	// errTooMany ends a watch of more than MaxListed numbers.
	errTooMany = errors.New("more numbers listed than a copy holds")
)

// watch fills a new copy from a new watch and applies its updates; it
// returns nil to be rebuilt after rebuildEvery. The copy is unusable
// once it returns.
func (v *DoNotTextView) watch(ctx context.Context, missed <-chan struct{}) error {
	select {
	case <-missed: // by the watch before this one
	default:
	}
	w, err := v.store.optOuts.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() {
		v.stop()
		_ = w.Stop()
		// nats.go's watch blocks on a full channel; let it end.
		for range w.Updates() {
		}
	}()
	listed := map[string]struct{}{}
	var applied uint64 // revisions delivered: the watch's server may be behind the leader
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
				v.copyNo++
				v.advance(applied)
				v.mu.Unlock()
				continue
			}
			time.Sleep(time.Duration(v.lag.Load()))
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
				return errTooMany
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

// stop marks the copy unusable until a watch fills a new one.
func (v *DoNotTextView) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.ready && v.listed == nil {
		return
	}
	v.ready, v.listed, v.applied = false, nil, 0
	close(v.moved)
	v.moved = make(chan struct{})
}

// fence passes rounds of questions: after the first question of a round, it
// waits a moment for more (when the round before had more than one: a
// text alone is not held back), asks the stream's leader for its last
// revision, and waits for the copy to hold it.
func (v *DoNotTextView) fence(ctx context.Context, missed chan<- struct{}) {
	busy := false
	for {
		select {
		case <-ctx.Done():
			v.mu.Lock()
			close(v.round.done) // passed is 0: anyone left reads the store
			v.mu.Unlock()
			return
		case <-v.wake:
		}
		if busy && sleepCtx(ctx, v.gather) != nil {
			continue
		}
		v.mu.Lock()
		round := v.round
		v.round = &fenceRound{done: make(chan struct{})}
		busy = round.asked > 1
		v.mu.Unlock()
		round.passed = v.reachLast(ctx, missed)
		close(round.done)
	}
}

// reachLast waits until the copy holds the bucket's last revision as its
// stream's leader tells it now, and returns the copy's number (0: not
// reached in time).
func (v *DoNotTextView) reachLast(ctx context.Context, missed chan<- struct{}) uint64 {
	ctx, cancel := context.WithTimeout(ctx, v.reach)
	defer cancel()
	last, err := leaderLastSeq(ctx, v.store.js.Conn(), "KV_"+BucketOptOuts)
	if err != nil {
		return 0
	}
	gaps := time.NewTimer(v.gaps)
	defer gaps.Stop()
	for {
		v.mu.Lock()
		ready, applied, moved, copyNo := v.ready, v.applied, v.moved, v.copyNo
		v.mu.Unlock()
		switch {
		case !ready:
			return 0
		case applied >= last:
			return copyNo
		}
		select {
		case <-moved:
		case <-gaps.C:
			// The copy may wait for a revision purged before the watch
			// saw it (an erasure), or one the watch's server has yet to
			// get. The leader says which: the first message after the
			// copy's, if any, must be in the copy before it answers.
			next, err := v.firstAfter(ctx, applied)
			if err == nil && next > last {
				v.mu.Lock()
				same := v.ready && v.copyNo == copyNo && v.applied >= applied
				v.mu.Unlock()
				if same {
					return copyNo
				}
			}
			gaps.Reset(v.gaps)
		case <-ctx.Done():
			select {
			case missed <- struct{}{}:
			default:
			}
			return 0
		}
	}
}

// firstAfter asks the stream's leader for the revision of the first message
// after rev; math.MaxUint64 when there is none.
func (v *DoNotTextView) firstAfter(ctx context.Context, rev uint64) (uint64, error) {
	req, _ := json.Marshal(map[string]any{"seq": rev + 1, "next_by_subj": "$KV." + BucketOptOuts + ".>"})
	res, err := v.store.js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+BucketOptOuts, req)
	if err != nil {
		return 0, err
	}
	var r msgGetResponse
	switch err := json.Unmarshal(res.Data, &r); {
	case err != nil:
		return 0, err
	case r.Error != nil && r.Error.ErrorCode == errCodeNoMessage:
		return ^uint64(0), nil
	case r.Error != nil:
		return 0, fmt.Errorf("%s (%d)", r.Error.Description, r.Error.ErrorCode)
	case r.Message == nil:
		return 0, errors.New("empty answer")
	}
	return r.Message.Sequence, nil
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
