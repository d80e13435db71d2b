package natsjstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Find reads every message of every stream (the buckets' streams too, so
// each key's history and its delete and purge markers) and returns where
// any of needles appears: in a subject, a header or a body. A stream named
// in skip is not read. Erasure tests use it to show a client is gone.
func Find(t testing.TB, js jetstream.JetStream, skip []string, needles ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	lister := js.StreamNames(ctx)
	for name := range lister.Name() {
		names = append(names, name)
	}
	if err := lister.Err(); err != nil {
		t.Fatalf("list streams: %v", err)
	}
	var hits []string
	for _, name := range names {
		if strings.Contains(","+strings.Join(skip, ",")+",", ","+name+",") {
			continue
		}
		err := eachMsg(ctx, js, name, func(m *jetstream.RawStreamMsg) {
			var b strings.Builder
			b.WriteString(m.Subject)
			for k, vs := range m.Header {
				b.WriteString("\n" + k + ": " + strings.Join(vs, ","))
			}
			b.WriteString("\n")
			b.Write(m.Data)
			for _, n := range needles {
				if strings.Contains(b.String(), n) {
					hits = append(hits, fmt.Sprintf("%s %s holds %q", name, m.Subject, n))
				}
			}
		})
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
	}
	return hits
}

// eachMsg reads a stream's messages one by one by sequence: a consumer
// would be refused on a work-queue stream, and would not show the markers
// a key-value watcher hides.
func eachMsg(ctx context.Context, js jetstream.JetStream, name string, fn func(*jetstream.RawStreamMsg)) error {
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted, or expired
		}
		if err != nil {
			return err
		}
		fn(m)
	}
	return nil
}
