// Package quota keeps the daily quotas of texts, so that no clinic, by
// mistake or on purpose, can have us text without bound: how many texts a
// clinic may have due on one day, and how many one of its clients (a phone
// number) may be sent on one day. Intake counts the texts an event would
// plan before the event is stored, and refuses the event whole when a count
// would pass its limit.
//
// A text counts on the day it is due, in the clinic's time zone. Counts are
// shared counters in JetStream, so every scheduler replica sees one exact
// count: an increment returns the new total, and an event whose increment
// takes a total past its limit takes it back and is refused. The limit is
// therefore never passed; while a refused event's increment is being taken
// back, a concurrent event may see it and be refused too (it can retry).
// Cancelled or moved sessions do not give their texts back: a quota bounds
// what a clinic asked for, so cancelling and booking again cannot beat it.
package quota

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Limits are the daily quotas of one clinic.
type Limits struct {
	PerClinic    int // texts a clinic may have due on one day
	PerRecipient int // texts one client (phone number) of a clinic may be due on one day
}

// For returns l with a clinic's own quotas, where it sets them, in place of these.
func (l Limits) For(q aftercare.Quota) Limits {
	if q.TextsPerDay > 0 {
		l.PerClinic = q.TextsPerDay
	}
	if q.TextsPerRecipientPerDay > 0 {
		l.PerRecipient = q.TextsPerRecipientPerDay
	}
	return l
}

// The two quotas, as named in errors and metrics.
const (
	Clinic    = "clinic"
	Recipient = "recipient"
)

// Counters adds to shared counters atomically, returning the new total.
type Counters interface {
	AddToCounter(ctx context.Context, key string, delta int64) (int64, error)
}

// Text is one text an event would plan.
type Text struct {
	Recipient string // the client's phone number
	Due       time.Time
}

// ExceededError refuses an event that would take a quota past its limit.
type ExceededError struct {
	Quota string // Clinic or Recipient
	Limit int
	Day   string // YYYY-MM-DD in Zone
	Zone  string
}

func (e *ExceededError) Error() string {
	what := "texts a day for this clinic"
	if e.Quota == Recipient {
		what = "texts a day to one client (phone number)"
	}
	return fmt.Sprintf("quota exceeded: the quota is %d %s, and this event would plan more on %s (%s); nothing was stored",
		e.Limit, what, e.Day, e.Zone)
}

// Keeper counts texts against the quotas.
type Keeper struct {
	Counters Counters
	Defaults Limits
	Log      *slog.Logger

	mu       sync.Mutex
	refusals map[[2]string]int64 // by clinic and quota
}

// Grant is what one Take counted; Return takes it back.
type Grant struct {
	k     *Keeper
	added []count
}

type count struct {
	key string
	n   int64
}

// Take counts texts of clinic (whose days are read in loc) against limits.
// When a count would pass its limit, everything this call counted is taken
// back and the error is an *ExceededError.
func (k *Keeper) Take(ctx context.Context, clinic string, loc *time.Location, limits Limits, texts []Text) (*Grant, error) {
	type key struct{ day, recipient string }
	per := map[key]int64{}
	for _, t := range texts {
		day := t.Due.In(loc).Format(time.DateOnly)
		per[key{day, ""}]++
		per[key{day, t.Recipient}]++
	}
	// Clients' counts first: they are the ones a mistake hits, and a refusal
	// then never touches the clinic's count.
	clinicWide := func(k key) bool { return k.recipient == "" }
	keys := slices.SortedFunc(maps.Keys(per), func(a, b key) int {
		if clinicWide(a) != clinicWide(b) {
			if clinicWide(a) {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.recipient, b.recipient))
	})
	g := &Grant{k: k}
	for _, c := range keys {
		name, limit, counter := Clinic, limits.PerClinic, clinic+"."+c.day
		if c.recipient != "" {
			name, limit, counter = Recipient, limits.PerRecipient, counter+"."+token(c.recipient)
		}
		total, err := k.Counters.AddToCounter(ctx, counter, per[c])
		if err != nil {
			// Whether this one counted is unknown: an over-count, never an under-count.
			g.Return(ctx)
			return nil, err
		}
		g.added = append(g.added, count{counter, per[c]})
		if total > int64(limit) {
			g.Return(ctx)
			return nil, &ExceededError{Quota: name, Limit: limit, Day: c.day, Zone: loc.String()}
		}
	}
	return g, nil
}

// Return takes back what the grant counted: its event was refused, not
// stored, or stored before. A failure leaves an over-count, and is logged.
func (g *Grant) Return(ctx context.Context) {
	if g == nil {
		return
	}
	ctx = context.WithoutCancel(ctx) // the request may be over; the count must still be right
	var errs []error
	for _, c := range g.added {
		if _, err := g.k.Counters.AddToCounter(ctx, c.key, -c.n); err != nil {
			errs = append(errs, err)
		}
	}
	g.added = nil
	if err := errors.Join(errs...); err != nil && g.k.Log != nil {
		g.k.Log.Warn("quota: could not take back a count; the day's count stays higher", "err", err)
	}
}

// Refused counts an event refused for a quota, for metrics.
func (k *Keeper) Refused(clinic, quota string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.refusals == nil {
		k.refusals = map[[2]string]int64{}
	}
	k.refusals[[2]string{clinic, quota}]++
}

// Refusals returns how many events were refused, by clinic and quota.
func (k *Keeper) Refusals() map[[2]string]int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.refusals)
}

// RecipientToken is how a client's counters name them: quota.<clinic>.<day>.<token>.
func RecipientToken(phone string) string { return token(phone) }

// token names a client in a counter's subject without the number itself.
func token(phone string) string {
	sum := sha256.Sum256([]byte(phone))
	return hex.EncodeToString(sum[:8])
}
