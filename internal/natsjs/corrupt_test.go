package natsjs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// A record that cannot be decoded is ErrCorrupt, naming the bucket and the
// key, and a key holding a client's number names it masked: the error ends
// up in logs and dead-letter reasons, and log scanners look for numbers.
func TestCorruptRecordIsErrCorruptWithAMaskedKey(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	const phone = "+447700900123"
	kv, err := env.Conn.JS.KeyValue(ctx, natsjs.BucketClients)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "harbour.447700900123", []byte("not-json{")); err != nil {
		t.Fatal(err)
	}
	checks := map[string]func() error{
		"read": func() error { _, _, err := env.Store.Client(ctx, "harbour", phone); return err },
		"update": func() error {
			return env.Store.UpdateClient(ctx, "harbour", phone, time.Now(), func(*aftercare.ClientRecord) bool { return true })
		},
	}
	for name, check := range checks {
		err := check()
		if !errors.Is(err, natsjs.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "447700900123") || !strings.Contains(msg, natsjs.BucketClients) || !strings.Contains(msg, "harbour.447*******23") {
			t.Errorf("%s: %q, want the bucket and the key with the number masked", name, msg)
		}
	}
	// A record that decodes is no ErrCorrupt.
	if _, _, err := env.Store.Client(ctx, "harbour", "+447700900124"); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("missing record: %v, want ErrNotFound", err)
	}
}
