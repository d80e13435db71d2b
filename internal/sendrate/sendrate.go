// Package sendrate paces texts per sender (a Twilio number or Messaging
// Service) across every worker process. Twilio's limit is per sender, so a
// limit kept per process would be multiplied by every replica the
// autoscaler adds; here the workers share one ledger of send slots in
// JetStream.
//
// The ledger holds, per sender, the next free slot: the generic cell rate
// algorithm's "theoretical arrival time". Taking a slot moves it on by one
// interval (1/rate) with a compare-and-set, so two workers never get the
// same slot. A fast sender's workers take slots in blocks, one write per
// tenth of a second's worth, so the ledger is not written once per text.
package sendrate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Ledger keeps every sender's next free slot.
type Ledger interface {
	// SendSlot returns the sender's next free slot and its revision (the
	// zero time and 0 when none is stored).
	SendSlot(ctx context.Context, sender string) (time.Time, uint64, error)
	// SaveSendSlot stores it if unchanged since rev; ErrConflict if not.
	SaveSendSlot(ctx context.Context, sender string, next time.Time, rev uint64) error
}

// blockPeriod is how much of a sender's rate a worker takes at once.
const blockPeriod = 100 * time.Millisecond

// LedgerWait bounds one trip to the ledger. While its stream elects a
// leader (a node restarting) nothing answers, and every text of the sender
// would wait out the election behind it. After this long the worker paces
// the sender on its own for ledgerRest, then asks the ledger again.
const (
	LedgerWait = 500 * time.Millisecond
	ledgerRest = 5 * time.Second
)

// maxConflicts bounds the retries of one slot write that others keep
// beating; more means the ledger is too contended to pace at all.
const maxConflicts = 50

// Limits hands out send slots.
type Limits struct {
	Ledger Ledger
	// IsConflict says an error is the ledger's "changed since read".
	IsConflict func(error) bool
	Now        func() time.Time
	// LedgerDown, if set, is told when the ledger does not answer and the
	// worker paces on its own for a while.
	LedgerDown func(err error)

	interval  time.Duration // between two slots of a sender
	tolerance time.Duration // how far ahead of its slot a burst may send
	blockSize int           // slots taken per ledger write
	maxWait   time.Duration

	mu      sync.Mutex
	senders map[string]*sender
}

// sender is this process's unused block of a sender's slots.
type sender struct {
	mu   sync.Mutex
	next time.Time // the first unused slot of the block
	left int       // unused slots in the block
	// While the ledger does not answer (until ledgerDownUntil), the sender
	// is paced by this process alone, from localNext: with several
	// workers, briefly faster than the rate. Twilio queues what comes
	// faster than a sender's limit rather than refusing it; a text held
	// for an election is late for certain.
	ledgerDownUntil time.Time
	localNext       time.Time
}

// New paces each sender at perSecond texts a second with bursts of up to
// burst; Reserve hands a text back rather than wait longer than maxWait.
func New(ledger Ledger, isConflict func(error) bool, perSecond float64, burst int, maxWait time.Duration) *Limits {
	interval := time.Duration(float64(time.Second) / perSecond)
	return &Limits{
		Ledger: ledger, IsConflict: isConflict, Now: time.Now,
		interval:  max(interval, 1),
		tolerance: time.Duration(max(burst-1, 0)) * interval,
		blockSize: max(1, int(math.Floor(perSecond*blockPeriod.Seconds()))),
		maxWait:   maxWait,
		senders:   map[string]*sender{},
	}
}

// Reserve takes the sender's next slot and says how long to wait for it.
// ok is false, and no slot is taken, when that would be longer than maxWait:
// wait then says when to come back.
func (l *Limits) Reserve(ctx context.Context, key string) (wait time.Duration, ok bool, err error) {
	l.mu.Lock()
	s := l.senders[key]
	if s == nil {
		s = &sender{}
		l.senders[key] = s
	}
	l.mu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	now := l.Now()
	// Slots of the block that have passed unused are dropped, not used
	// late: used late, a block would go out as one burst. Its later slots
	// stay. (Dropping the whole block took a new one for every text of a
	// sender faster than the worker, each 100 ms beyond the last: the
	// sender's texts then queued for seconds behind slots nobody used.)
	if s.left > 0 && now.Sub(s.next) >= l.interval {
		passed := int(now.Sub(s.next) / l.interval)
		if passed >= s.left {
			s.left = 0
		} else {
			s.next, s.left = s.next.Add(time.Duration(passed)*l.interval), s.left-passed
		}
	}
	if s.left == 0 {
		first, n, wait, err := l.refill(ctx, key, s, now)
		if err != nil || n == 0 {
			return wait, false, err
		}
		s.next, s.left = first, n
	}
	slot := s.next
	s.next, s.left = s.next.Add(l.interval), s.left-1
	return max(slot.Sub(now), 0), true, nil
}

// refill takes the sender's next block of slots from the ledger or, while
// the ledger does not answer, from this process's own pacing.
func (l *Limits) refill(ctx context.Context, key string, s *sender, now time.Time) (first time.Time, n int, wait time.Duration, err error) {
	if !now.Before(s.ledgerDownUntil) {
		tryCtx, cancel := context.WithTimeout(ctx, LedgerWait)
		first, n, wait, err = l.takeBlock(tryCtx, key, now)
		cancel()
		if err == nil || ctx.Err() != nil {
			return first, n, wait, err
		}
		if l.LedgerDown != nil {
			l.LedgerDown(err)
		}
		s.ledgerDownUntil = now.Add(ledgerRest)
		s.localNext = now // the ledger's slots are out of reach: start now
	}
	first, end, n, wait := l.block(s.localNext, now)
	if n > 0 {
		s.localNext = end
	}
	return first, n, wait, nil
}

// takeBlock moves the sender's ledger entry on by a block of slots and
// returns the first of them; n is 0, with the wait, when the first free
// slot is more than maxWait away.
func (l *Limits) takeBlock(ctx context.Context, key string, now time.Time) (first time.Time, n int, wait time.Duration, err error) {
	for range maxConflicts {
		next, rev, err := l.Ledger.SendSlot(ctx, key)
		if err != nil {
			return time.Time{}, 0, 0, err
		}
		first, end, n, wait := l.block(next, now)
		if n == 0 {
			return time.Time{}, 0, wait, nil
		}
		err = l.Ledger.SaveSendSlot(ctx, key, end, rev)
		if err == nil {
			return first, n, 0, nil
		}
		if !l.IsConflict(err) {
			return time.Time{}, 0, 0, err
		}
	}
	return time.Time{}, 0, 0, errors.New("send slots: the ledger kept changing under us")
}

// block is the generic cell rate algorithm for a block of slots, given the
// sender's next free slot ("theoretical arrival time"): the first slot of
// the block and how many, or 0 and the wait when the first is more than
// maxWait away; and the sender's next free slot after the block (end). A
// burst may go out as far ahead of its slots as the tolerance.
func (l *Limits) block(next, now time.Time) (first, end time.Time, n int, wait time.Duration) {
	tat := next
	if tat.Before(now) {
		tat = now
	}
	first = tat.Add(-l.tolerance)
	if first.Before(now) {
		first = now
	}
	if wait := first.Sub(now); wait > l.maxWait {
		return time.Time{}, time.Time{}, 0, wait
	}
	return first, tat.Add(time.Duration(l.blockSize) * l.interval), l.blockSize, 0
}

// String describes the pace, for the start-up log.
func (l *Limits) String() string {
	return fmt.Sprintf("one text per %v per sender, bursts of %d", l.interval, l.tolerance/l.interval+1)
}
