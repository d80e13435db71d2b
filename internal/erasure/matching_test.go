package erasure_test

import (
	"context"
	"testing"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// Dead letters that name other numbers, whose digits hold the client's or
// differ in the last, are neither exported nor erased with the client.
func TestDeadLettersOfOtherNumbersAreKept(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.client(t, "harbour", client, "s1", "SM01")
	others := []string{
		`{"clientPhone":"07700 900402"}`,  // the neighbour, nationally
		`{"phone":"+4477009004012"}`,      // a longer number
		`{"clientPhone":"07700 9004015"}`, // the same, written
	}
	for _, data := range others {
		if err := b.env.Store.DeadLetter(ctx, "booking", "harbour.mindbody", []byte(data), "refused"); err != nil {
			t.Fatal(err)
		}
	}
	x, err := b.svc.Export(ctx, "harbour", client)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range x.DeadLetters {
		if d.Subject == "deadletter.booking.harbour.mindbody" {
			t.Errorf("exported another number's dead letter: %s", d.Data)
		}
	}
	if _, err := b.svc.Erase(ctx, "harbour", client); err != nil {
		t.Fatal(err)
	}
	if n := b.env.Count(t, natsjs.StreamDeadLetter, "deadletter.booking.harbour.mindbody"); n != uint64(len(others)) {
		t.Errorf("%d of the other numbers' %d dead letters left after the erasure", n, len(others))
	}
}
