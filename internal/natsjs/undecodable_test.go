package natsjs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// EraseOptOutKey keeps a client's own STOP and erases anything else under
// the key with its history: a failing mark, the delete marker a START or a
// cleared mark left.
func TestEraseOptOutKeyKeepsOnlyAStop(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	st := env.Store
	now := time.Now()
	cases := []struct {
		name, phone      string
		write            func(phone string) error
		optedOut, erased bool
		left             uint64 // messages left on the key's subject
	}{
		{"nothing", "+447700900501", func(string) error { return nil }, false, false, 0},
		{"failing mark", "+447700900502", func(p string) error { return st.MarkFailing(ctx, "harbour", p, "30003", now) }, false, true, 0},
		{"stop over a failing mark", "+447700900503", func(p string) error {
			if err := st.MarkFailing(ctx, "harbour", p, "30003", now); err != nil {
				return err
			}
			return st.SetOptOut(ctx, "harbour", p, true, now)
		}, true, false, 1},
		{"start after a stop", "+447700900504", func(p string) error {
			if err := st.SetOptOut(ctx, "harbour", p, true, now); err != nil {
				return err
			}
			return st.SetOptOut(ctx, "harbour", p, false, now)
		}, false, false, 0},
	}
	for _, c := range cases {
		if err := c.write(c.phone); err != nil {
			t.Fatal(err)
		}
		optedOut, erased, err := st.EraseOptOutKey(ctx, "harbour", c.phone)
		if err != nil || optedOut != c.optedOut || erased != c.erased {
			t.Errorf("%s: opted out %v, mark erased %v, %v; want %v, %v", c.name, optedOut, erased, err, c.optedOut, c.erased)
		}
		subject := "$KV." + natsjs.BucketOptOuts + "." + natsjs.OptOutKey("harbour", c.phone)
		if n := env.Count(t, "KV_"+natsjs.BucketOptOuts, subject); n > c.left {
			t.Errorf("%s: %d messages left under the key, want at most %d", c.name, n, c.left)
		}
		if out, err := st.OptedOut(ctx, "harbour", c.phone); err != nil || out != c.optedOut {
			t.Errorf("%s: opted out after: %v %v, want %v", c.name, out, err, c.optedOut)
		}
	}
}

// ReadableReplies lists a clinic's replies and returns one that cannot be
// decoded apart, with its key and bytes, instead of failing.
func TestReadableRepliesSetsTheUndecodableApart(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	in := aftercare.InboundSMS{MessageSID: "SMgood", From: "+447700900601", To: "+447700900100", Body: "ok", ClinicID: "harbour", ReceivedAt: time.Now()}
	if _, err := env.Store.SaveReply(ctx, aftercare.Reply{InboundSMS: in}, 0); err != nil {
		t.Fatal(err)
	}
	kv, err := env.Conn.JS.KeyValue(ctx, natsjs.BucketReplies)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, natsjs.ReplyKey("harbour", "SMbroken"), []byte(`{"message_sid":`)); err != nil {
		t.Fatal(err)
	}
	replies, bad, err := env.Store.ReadableReplies(ctx, "harbour")
	if err != nil || len(replies) != 1 || replies[0].MessageSID != "SMgood" {
		t.Errorf("replies: %+v %v, want SMgood alone", replies, err)
	}
	if len(bad) != 1 || bad[0].Key != natsjs.ReplyKey("harbour", "SMbroken") || string(bad[0].Data) != `{"message_sid":` {
		t.Errorf("undecodable: %+v, want harbour's SMbroken as stored", bad)
	}
}
