package sendrate_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/sendrate"
)

func isConflict(err error) bool { return errors.Is(err, natsjs.ErrConflict) }

// workers are three workers' limits on one ledger in JetStream, all reading
// the same clock.
func workers(t *testing.T, perSecond float64, burst int) ([]*sendrate.Limits, *time.Time) {
	t.Helper()
	env := natsjstest.Start(t)
	now := time.Date(2030, 1, 7, 10, 0, 0, 0, time.UTC)
	var list []*sendrate.Limits
	for range 3 {
		l := sendrate.New(env.Store, isConflict, perSecond, burst, 2*time.Second)
		l.Now = func() time.Time { return now }
		list = append(list, l)
	}
	return list, &now
}

func reserve(t *testing.T, l *sendrate.Limits, sender string) (time.Duration, bool) {
	t.Helper()
	wait, ok, err := l.Reserve(context.Background(), sender)
	if err != nil {
		t.Fatal(err)
	}
	return wait, ok
}

// Three workers taking turns share one sender's rate: between them they
// get one slot per interval, never two at once, and are told to come back
// once the queue is longer than the longest wait. Each with its own limit
// would have had three times as many.
func TestWorkersShareASendersRate(t *testing.T) {
	t.Parallel()
	list, _ := workers(t, 10, 1)
	var waits []time.Duration
	for i := 0; ; i++ {
		wait, ok := reserve(t, list[i%3], "+447700900100")
		if !ok {
			if wait <= 2*time.Second {
				t.Errorf("handed back with a wait of %v, within the longest wait", wait)
			}
			break
		}
		waits = append(waits, wait)
		if i > 100 {
			t.Fatal("never handed back")
		}
	}
	// Slots 0, 100 ms, ... 2 s: the queue a 2 s wait allows, at 10 a second.
	if len(waits) != 21 {
		t.Errorf("%d slots within 2 s, want 21: %v", len(waits), waits)
	}
	slices.Sort(waits)
	for i := 1; i < len(waits); i++ {
		if gap := waits[i] - waits[i-1]; gap < 100*time.Millisecond {
			t.Errorf("slots %v and %v are %v apart, want 100ms", waits[i-1], waits[i], gap)
		}
	}
	if wait, ok := reserve(t, list[0], "+15550000000"); !ok || wait != 0 {
		t.Errorf("another sender waits %v (ok %v), want 0", wait, ok)
	}
}

func TestBurstThenPace(t *testing.T) {
	t.Parallel()
	list, now := workers(t, 1, 3)
	for i := range 3 {
		if wait, ok := reserve(t, list[i], "s"); !ok || wait != 0 {
			t.Fatalf("burst text %d waits %v", i, wait)
		}
	}
	if wait, ok := reserve(t, list[0], "s"); !ok || wait != time.Second {
		t.Fatalf("fourth text waits %v, want 1s", wait)
	}
	// Quiet for a minute: the burst is back.
	*now = now.Add(time.Minute)
	for i := range 3 {
		if wait, ok := reserve(t, list[i], "s"); !ok || wait != 0 {
			t.Fatalf("after a pause, burst text %d waits %v", i, wait)
		}
	}
}

// A fast sender's worker takes a block of slots at a time; another worker's
// slots start after that block, and a block left unused is not used late as
// one burst.
func TestBlocksOfAFastSender(t *testing.T) {
	t.Parallel()
	list, now := workers(t, 1000, 1) // blocks of 100 slots, 1 ms apart
	if wait, _ := reserve(t, list[0], "s"); wait != 0 {
		t.Fatalf("first slot waits %v", wait)
	}
	if wait, _ := reserve(t, list[1], "s"); wait != 100*time.Millisecond {
		t.Fatalf("second worker's first slot waits %v, want 100ms (after the first worker's block)", wait)
	}
	if wait, _ := reserve(t, list[0], "s"); wait != time.Millisecond {
		t.Fatalf("first worker's second slot waits %v, want 1ms (next in its block)", wait)
	}
	*now = now.Add(10 * time.Second)
	if wait, _ := reserve(t, list[0], "s"); wait != 0 {
		t.Fatalf("after a pause the first slot waits %v", wait)
	}
	if wait, _ := reserve(t, list[0], "s"); wait != time.Millisecond {
		t.Fatalf("after a pause the old block was used: second slot waits %v, want 1ms", wait)
	}
}

// downLedger answers like nats-server while a stream elects its leader:
// not at all, until ctx ends.
type downLedger struct{ calls int }

func (d *downLedger) SendSlot(ctx context.Context, _ string) (time.Time, uint64, error) {
	d.calls++
	<-ctx.Done()
	return time.Time{}, 0, ctx.Err()
}

func (d *downLedger) SaveSendSlot(ctx context.Context, _ string, _ time.Time, _ uint64) error {
	<-ctx.Done()
	return ctx.Err()
}

// While the ledger does not answer, a worker paces the sender on its own
// (at the sender's rate, as if alone) rather than hold every text for the
// election, and asks the ledger again only after a rest.
func TestLedgerDownPacesLocally(t *testing.T) {
	t.Parallel()
	ledger := &downLedger{}
	now := time.Date(2030, 1, 7, 10, 0, 0, 0, time.UTC)
	var downs int
	l := sendrate.New(ledger, isConflict, 2, 1, 2*time.Second)
	l.Now = func() time.Time { return now }
	l.LedgerDown = func(error) { downs++ }
	start := time.Now()
	var waits []time.Duration
	for range 5 {
		wait, ok, err := l.Reserve(context.Background(), "s")
		if err != nil || !ok {
			t.Fatalf("reserve with the ledger down: ok %v, %v", ok, err)
		}
		waits = append(waits, wait)
	}
	if took := time.Since(start); took > 3*sendrate.LedgerWait {
		t.Errorf("5 reservations took %v with the ledger down, want one ledger wait (%v)", took, sendrate.LedgerWait)
	}
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("local pace %v, want %v", waits, want)
	}
	if ledger.calls != 1 || downs != 1 {
		t.Errorf("asked the ledger %d times, told of it down %d times; want 1 and 1 within the rest", ledger.calls, downs)
	}
	now = now.Add(10 * time.Second)
	if _, _, err := l.Reserve(context.Background(), "s"); err != nil || ledger.calls != 2 {
		t.Errorf("after the rest: %v, asked the ledger %d times in all, want 2", err, ledger.calls)
	}
}

// countingLedger counts the writes to a ledger.
type countingLedger struct {
	sendrate.Ledger
	writes int
}

func (c *countingLedger) SaveSendSlot(ctx context.Context, sender string, next time.Time, rev uint64) error {
	c.writes++
	return c.Ledger.SaveSendSlot(ctx, sender, next, rev)
}

// A sender faster than the worker (a Messaging Service, a load run) gets a
// slot at once for every text, and its ledger is written once per block's
// worth of time, however many of a block's slots pass unused between two
// texts.
func TestSenderFasterThanTheWorker(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ledger := &countingLedger{Ledger: env.Store}
	now := time.Date(2030, 1, 7, 10, 0, 0, 0, time.UTC)
	l := sendrate.New(ledger, isConflict, 1_000_000, 100_000, 2*time.Second)
	l.Now = func() time.Time { return now }
	for i := range 20_000 {
		wait, ok := reserve(t, l, "s")
		if !ok || wait != 0 {
			t.Fatalf("text %d waits %v (ok %v), want a slot at once", i, wait, ok)
		}
		now = now.Add(10 * time.Microsecond) // 100,000 texts a second, ten slots apart
	}
	// 200 ms of texts: two blocks of 100 ms, and a third begun.
	if ledger.writes > 3 {
		t.Errorf("the ledger was written %d times for 200 ms of texts, want at most 3", ledger.writes)
	}
}
