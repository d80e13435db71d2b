package natsjs_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// Escalations are clinical records: their bucket keeps them eight years by
// default, not the 30 days of follow-ups, including on a server provisioned
// by an earlier version with the short TTL.
func TestEscalationsOutliveRetention(t *testing.T) {
	t.Parallel()
	ns := natsjstest.StartServer(t)
	js := natsjstest.Connect(t, ns.ClientURL())
	ctx := context.Background()
	// As an earlier version left it: the escalations' TTL was NATS_RETENTION.
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsjs.BucketEscalations, TTL: 720 * time.Hour, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	ttl := func() time.Duration {
		kv, err := js.KeyValue(ctx, natsjs.BucketEscalations)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.TTL()
	}
	if _, err := natsjs.Provision(ctx, js, natsjs.Settings{Replicas: 1, Retention: 720 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := ttl(); got != natsjs.DefaultEscalationRetention || got < 8*365*24*time.Hour {
		t.Fatalf("escalations kept %v, want the default %v (8 years)", got, natsjs.DefaultEscalationRetention)
	}
	if _, err := natsjs.Provision(ctx, js, natsjs.Settings{Replicas: 1, Retention: 720 * time.Hour, EscalationRetention: 10 * 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := ttl(); got != 10*365*24*time.Hour {
		t.Fatalf("escalations kept %v, want the setting, 10 years", got)
	}
}
