package erasure_test

import (
	"context"
	"testing"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// A dead letter whose job cannot be decoded is taken by the export and
// erasure of the clinic its subject names, not by another clinic that has
// a client with the same number: the bytes of the number alone do not
// make it the clinic's. One that names no clinic (as such jobs were
// stored before) is no clinic's.
func TestUndecodableDeadLettersStayWithTheirClinic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.client(t, "harbour", client, "s1", "SM01")
	b.client(t, "sol", client, "s2", "SM02")
	body := []byte(`{"clinic_id":"sol","client":{"phone":"` + client + `"`)
	for _, suffix := range []string{"sol.undecodable", "undecodable"} {
		if err := b.env.Store.DeadLetter(ctx, "followup", suffix, body, "cannot decode"); err != nil {
			t.Fatal(err)
		}
	}
	x, err := b.svc.Export(ctx, "harbour", client)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range x.DeadLetters {
		if d.Subject == "deadletter.followup.sol.undecodable" || d.Subject == "deadletter.followup.undecodable" {
			t.Errorf("harbour's export holds %s: %s", d.Subject, d.Data)
		}
	}
	sol, err := b.svc.Export(ctx, "sol", client)
	if err != nil {
		t.Fatal(err)
	}
	took := map[string]bool{}
	for _, d := range sol.DeadLetters {
		took[d.Subject] = true
	}
	if !took["deadletter.followup.sol.undecodable"] || took["deadletter.followup.undecodable"] {
		t.Errorf("sol's export holds dead letters %v, want its undecodable one and not the one naming no clinic", took)
	}

	if _, err := b.svc.Erase(ctx, "harbour", client); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"deadletter.followup.sol.undecodable", "deadletter.followup.undecodable"} {
		if n := b.env.Count(t, natsjs.StreamDeadLetter, subject); n != 1 {
			t.Errorf("after harbour's erasure %d left on %s, want it as it was", n, subject)
		}
	}
	if _, err := b.svc.Erase(ctx, "sol", client); err != nil {
		t.Fatal(err)
	}
	if n := b.env.Count(t, natsjs.StreamDeadLetter, "deadletter.followup.sol.undecodable"); n != 0 {
		t.Errorf("after sol's erasure %d left of its undecodable dead letter", n)
	}
}
