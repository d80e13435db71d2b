package natsjs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The lean requests must answer as nats.go's KeyValue does, on a real server.
func TestLeanGetAndUpdateAnswerAsKeyValueDoes(t *testing.T) {
	t.Parallel()
	nc, js := leanServer(t)
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

// A read or write whose answer never comes ends after nats.go's 5 s even
// when its caller set no deadline (a reconciler's run, say).
func TestLeanRequestsWithoutADeadlineEnd(t *testing.T) {
	t.Parallel()
	nc, _ := leanServer(t)
	// Something takes the requests and never answers them.
	for _, subject := range []string{"$JS.API.DIRECT.GET.KV_mute.>", "$KV.mute.>"} {
		if _, err := nc.Subscribe(subject, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 2)
	go func() { _, _, err := leanGet(context.Background(), nc, "mute", "k"); errs <- err }()
	go func() { _, err := leanUpdate(context.Background(), nc, "mute", "k", nil, 1); errs <- err }()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("unanswered request: %v, want context.DeadlineExceeded", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("an unanswered request without a deadline is still waiting after 20 s")
		}
	}
}

// A bucket made without direct gets is read from its leader instead.
func TestReadOfABucketWithoutDirectGets(t *testing.T) {
	t.Parallel()
	nc, js := leanServer(t)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "nodirect"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "KV_nodirect")
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Put(ctx, "harbour.s1", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := leanGet(ctx, nc, "nodirect", "harbour.s1"); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("direct get of a bucket without them: %v, want nats.ErrNoResponders", err)
	}
	kv, err = js.KeyValue(ctx, "nodirect") // as Provision binds it, knowing the stream's settings
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{js: js}
	value, got, err := s.get(ctx, kv, "harbour.s1")
	if err != nil || got != rev || string(value) != "v" {
		t.Fatalf("read %q at %d (%v), want v at %d", value, got, err, rev)
	}
}

func leanServer(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := startServer(t, &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
