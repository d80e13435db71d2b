package natsjs

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The lean requests must answer as nats.go's KeyValue does, on a real server.
func TestLeanGetAndUpdateAnswerAsKeyValueDoes(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "lean"})
	if err != nil {
		t.Fatal(err)
	}

	if _, _, err := leanGet(ctx, nc, "lean", "harbour.s1.1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("missing key: %v, want ErrKeyNotFound", err)
	}
	rev, err := kv.Create(ctx, "harbour.s1.1", []byte(`{"v":1}`))
	if err != nil {
		t.Fatal(err)
	}
	value, got, err := leanGet(ctx, nc, "lean", "harbour.s1.1")
	if err != nil || got != rev || string(value) != `{"v":1}` {
		t.Fatalf("read %q at %d (%v), want {\"v\":1} at %d", value, got, err, rev)
	}
	next, err := leanUpdate(ctx, nc, "lean", "harbour.s1.1", []byte(`{"v":2}`), rev)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "harbour.s1.1"); err != nil || e.Revision() != next || string(e.Value()) != `{"v":2}` {
		t.Fatalf("KeyValue reads %v (%v), want {\"v\":2} at %d", e, err, next)
	}
	if _, err := leanUpdate(ctx, nc, "lean", "harbour.s1.1", []byte(`{"v":3}`), rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("write at an old revision: %v, want ErrConflict", err)
	}
	if _, err := leanUpdate(ctx, nc, "lean", "harbour.s1.2", []byte(`{"v":3}`), rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("write at a revision of a key never written: %v, want ErrConflict", err)
	}
	if err := kv.Delete(ctx, "harbour.s1.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := leanGet(ctx, nc, "lean", "harbour.s1.1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("deleted key: %v, want ErrKeyNotFound", err)
	}
	if _, err := kv.Put(ctx, "harbour.s1.1", []byte(`{"v":4}`)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "harbour.s1.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := leanGet(ctx, nc, "lean", "harbour.s1.1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("purged key: %v, want ErrKeyNotFound", err)
	}
	for _, key := range []string{"", ".a", "a.", "a..b", "a b", "a.*", "a.>", "ü"} {
		if _, _, err := leanGet(ctx, nc, "lean", key); !errors.Is(err, jetstream.ErrInvalidKey) {
			t.Errorf("read of key %q: %v, want ErrInvalidKey", key, err)
		}
		if _, err := leanUpdate(ctx, nc, "lean", key, nil, 1); !errors.Is(err, jetstream.ErrInvalidKey) {
			t.Errorf("write of key %q: %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestPubAckSequence(t *testing.T) {
	for ack, want := range map[string]uint64{
		`{"stream":"KV_followups","seq":42}`:                     42,
		`{"stream":"KV_followups", "seq": 7, "duplicate":false}`: 7,
		`{"stream":"KV_followups","domain":"hub","seq":9}`:       9,
	} {
		if got, err := pubAckSequence([]byte(ack)); err != nil || got != want {
			t.Errorf("%s: %d (%v), want %d", ack, got, err, want)
		}
	}
	for _, code := range []string{"10071", "10164"} {
		ack := `{"error":{"code":400,"err_code":` + code + `,"description":"wrong last sequence: 5"},"stream":"KV_followups","seq":0}`
		if _, err := pubAckSequence([]byte(ack)); !errors.Is(err, ErrConflict) {
			t.Errorf("%s: %v, want ErrConflict", ack, err)
		}
	}
	for _, ack := range []string{
		`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`,
		`{"stream":"KV_followups"}`,
		`{"stream":"KV_followups","seq":0}`,
		`not json`,
		``,
	} {
		if _, err := pubAckSequence([]byte(ack)); err == nil || errors.Is(err, ErrConflict) {
			t.Errorf("%q: %v, want an error that is no conflict", ack, err)
		}
	}
}
