package natsjs_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// The sweep takes a tombstone down only while it names the job the sweep
// read: one put up since, by another erasure, stays, and taking one down
// leaves nothing of it (the key names the number) in the bucket's stream.
func TestClearErasingOfOnlyTheJobItNames(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	st, ctx := env.Store, context.Background()
	const phone = "+447700900471"
	if _, err := st.SetErasing(ctx, "harbour", phone, "era_a"); err != nil {
		t.Fatal(err)
	}
	if cleared, err := st.ClearErasingOf(ctx, "harbour", phone, "era_b"); err != nil || cleared {
		t.Fatalf("a tombstone of era_a taken down for era_b: %v %v", cleared, err)
	}
	if job, _ := st.Erasing(ctx, "harbour", phone); job != "era_a" {
		t.Fatalf("after a clear for another job, the tombstone names %q", job)
	}
	if cleared, err := st.ClearErasingOf(ctx, "harbour", phone, "era_a"); err != nil || !cleared {
		t.Fatalf("its own job's clear: %v %v", cleared, err)
	}
	stream, err := env.Conn.JS.Stream(ctx, "KV_"+natsjs.BucketErasing)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter("$KV."+natsjs.BucketErasing+".>"))
	if err != nil || len(info.State.Subjects) != 0 {
		t.Fatalf("taken down, the bucket's stream still holds %v (%v)", info.State.Subjects, err)
	}
	// A new erasure's tombstone, put up after one was read for era_a.
	if _, err := st.SetErasing(ctx, "harbour", phone, "era_c"); err != nil {
		t.Fatal(err)
	}
	if cleared, err := st.ClearErasingOf(ctx, "harbour", phone, "era_a"); err != nil || cleared {
		t.Fatalf("era_c's tombstone taken down by a sweep that read era_a's: %v %v", cleared, err)
	}
	if job, _ := st.Erasing(ctx, "harbour", phone); job != "era_c" {
		t.Errorf("the newer erasure's tombstone names %q, want era_c", job)
	}
}
