package quota_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/quota"
)

var london, _ = time.LoadLocation("Europe/London")

// A winter Tuesday: London is on UTC.
var noon = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func texts(phone string, due ...time.Time) []quota.Text {
	var out []quota.Text
	for _, d := range due {
		out = append(out, quota.Text{Recipient: phone, Due: d})
	}
	return out
}

func setup(t *testing.T, limits quota.Limits) (*quota.Keeper, *natsjstest.Env) {
	t.Helper()
	env := natsjstest.Start(t)
	return &quota.Keeper{Counters: env.Store, Defaults: limits, Log: natsjstest.Logger()}, env
}

// Forty events for one client at once, a quota of 3 a day: exactly 3 are
// counted, whichever they are, and the count ends at 3, not above.
func TestRecipientQuotaIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	k, env := setup(t, quota.Limits{PerClinic: 1000, PerRecipient: 3})
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted, refused := 0, 0
	for range 40 {
		wg.Go(func() {
			_, err := k.Take(context.Background(), "harbour", london, k.Defaults, texts("+447700900123", noon))
			mu.Lock()
			defer mu.Unlock()
			var over *quota.ExceededError
			switch {
			case err == nil:
				granted++
			case errors.As(err, &over):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if granted != 3 || refused != 37 {
		t.Fatalf("%d granted, %d refused; want 3 and 37", granted, refused)
	}
	if n, err := env.Store.Counter(context.Background(), "harbour.2026-12-01"); err != nil || n != 3 {
		t.Errorf("clinic's count for the day: %d (%v), want 3: refused events must leave nothing counted", n, err)
	}
}

// A refused event counts nothing, on any counter; its error names the
// quota, the limit and the day.
func TestRefusedEventCountsNothing(t *testing.T) {
	t.Parallel()
	k, env := setup(t, quota.Limits{PerClinic: 4, PerRecipient: 10})
	ctx := context.Background()
	if _, err := k.Take(ctx, "harbour", london, k.Defaults, texts("+447700900001", noon, noon.Add(time.Hour), noon.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	// Two more for another client: one for tomorrow would fit, today's not.
	_, err := k.Take(ctx, "harbour", london, k.Defaults, texts("+447700900002", noon.Add(24*time.Hour), noon, noon.Add(time.Minute)))
	var over *quota.ExceededError
	if !errors.As(err, &over) || over.Quota != quota.Clinic || over.Limit != 4 || over.Day != "2026-12-01" {
		t.Fatalf("err %v, want the clinic's quota of 4 exceeded on 2026-12-01", err)
	}
	for _, want := range []string{"4 texts a day for this clinic", "2026-12-01", "Europe/London"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not say %q", err, want)
		}
	}
	for key, want := range map[string]int64{"harbour.2026-12-01": 3, "harbour.2026-12-02": 0} {
		if n, err := env.Store.Counter(ctx, key); err != nil || n != want {
			t.Errorf("count %s = %d (%v), want %d", key, n, err, want)
		}
	}
	// The client's own count was taken back too: 2 more fit under a limit of 2.
	limits := quota.Limits{PerClinic: 100, PerRecipient: 2}
	if _, err := k.Take(ctx, "harbour", london, limits, texts("+447700900002", noon, noon)); err != nil {
		t.Errorf("client's count not taken back: %v", err)
	}
}

// Days are the clinic's: 23:00 and 01:00 in Mexico City are two days, though
// both are 2 December in UTC. Clinics count apart.
func TestDaysAreTheClinicsAndClinicsCountApart(t *testing.T) {
	t.Parallel()
	k, _ := setup(t, quota.Limits{PerClinic: 1, PerRecipient: 1})
	mexico, _ := time.LoadLocation("America/Mexico_City")
	ctx := context.Background()
	late := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC) // 23:00 on 1 December there
	if _, err := k.Take(ctx, "sol", mexico, k.Defaults, texts("+525555550001", late, late.Add(2*time.Hour))); err != nil {
		t.Fatalf("one text on each of two days: %v", err)
	}
	if _, err := k.Take(ctx, "harbour", london, k.Defaults, texts("+525555550001", late)); err != nil {
		t.Fatalf("another clinic's quota is its own: %v", err)
	}
	_, err := k.Take(ctx, "sol", mexico, k.Defaults, texts("+525555550002", late))
	var over *quota.ExceededError
	if !errors.As(err, &over) || over.Day != "2026-12-01" {
		t.Fatalf("err %v, want the quota exceeded on a Mexico City day", err)
	}
}

// Return takes a grant back: the event was not stored, or stored before.
func TestReturnGivesTheTextsBack(t *testing.T) {
	t.Parallel()
	k, env := setup(t, quota.Limits{PerClinic: 10, PerRecipient: 1})
	ctx := context.Background()
	g, err := k.Take(ctx, "harbour", london, k.Defaults, texts("+447700900003", noon))
	if err != nil {
		t.Fatal(err)
	}
	g.Return(ctx)
	if n, _ := env.Store.Counter(ctx, "harbour.2026-12-01"); n != 0 {
		t.Errorf("count after return %d, want 0", n)
	}
	if _, err := k.Take(ctx, "harbour", london, k.Defaults, texts("+447700900003", noon)); err != nil {
		t.Errorf("after return: %v", err)
	}
}

func TestClinicOverridesTheDefaults(t *testing.T) {
	t.Parallel()
	d := quota.Limits{PerClinic: 5000, PerRecipient: 6}
	if got := d.For(aftercare.Quota{TextsPerRecipientPerDay: 2}); got != (quota.Limits{PerClinic: 5000, PerRecipient: 2}) {
		t.Errorf("got %+v", got)
	}
	if got := d.For(aftercare.Quota{}); got != d {
		t.Errorf("no override: got %+v", got)
	}
}
