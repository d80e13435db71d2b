package housekeeping_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/housekeeping"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// failingFor is the real erasure service, but for one client, whose
// expiry fails (standing in for any store error on their records).
type failingFor struct {
	*erasure.Service
	phone string
}

func (f failingFor) Expire(ctx context.Context, clinic, phone string, before time.Time) (erasure.Result, error) {
	if phone == f.phone {
		return erasure.Result{}, errors.New("store unavailable")
	}
	return f.Service.Expire(ctx, clinic, phone, before)
}

// One client whose expiry fails does not keep the clinic's other clients
// past retention: the run goes on with them, logs the failure by masked
// number, counts it, and returns an error naming no number.
func TestRetentionGoesOnPastAClientThatFails(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	day := 24 * time.Hour
	now := time.Now()
	last := now.Add(-20 * day)
	// Sorted, the failing client comes first.
	const failing, other = "+447700900715", "+447700900716"
	for i, phone := range []string{failing, other} {
		if err := st.NoteClientSession(ctx, "harbour", phone, aftercare.ClientSession{SessionID: "s71" + string(rune('5'+i)), End: last}, last); err != nil {
			t.Fatal(err)
		}
	}
	clock := func() time.Time { return now }
	svc := &erasure.Service{Store: st, Inbox: &inbox.Store{S: st}, Steps: 3, Now: clock, EscalationRetention: natsjs.DefaultEscalationRetention}
	var logs syncBuffer
	r := &housekeeping.Retention{Store: st, Erasure: failingFor{Service: svc, phone: failing},
		Clinics: []aftercare.Clinic{{ID: "harbour", Retention: aftercare.Retention{TextsFor: 10 * day}}},
		Texts:   30 * day, Escalations: natsjs.DefaultEscalationRetention, MaxPerRun: 10, Now: clock,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}
	res, err := r.Run(ctx)
	if err == nil || strings.Contains(err.Error(), "447700900715") {
		t.Errorf("run: %v, want an error naming no number", err)
	}
	if res.Clients != 1 || res.ClientsFailed != 1 {
		t.Errorf("run: %+v, want one client expired and one failed", res)
	}
	if _, _, err := st.Client(ctx, "harbour", other); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("the other client, last seen 20 days ago, past 10: %v, want erased", err)
	}
	if _, _, err := st.Client(ctx, "harbour", failing); err != nil {
		t.Errorf("the failing client's record: %v, want it left for the next run", err)
	}
	out := logs.String()
	if strings.Contains(out, "447700900715") || !strings.Contains(out, aftercare.MaskPhone(failing)) {
		t.Errorf("log names the failing client unmasked, or not at all:\n%s", out)
	}
}
