package natsjs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// plainServer is a nats-server without JetStream: the test answers the
// JetStream API itself, as a cluster's members would.
func plainServer(t *testing.T) *nats.Conn {
	return startServer(t, &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
}

// startServer starts an embedded nats-server for the test and connects.
func startServer(t *testing.T, opts *server.Options) *nats.Conn {
	t.Helper()
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// A fence is only as good as who gave it: the leader's answer is taken,
// any other member's, or a stream's with no leader, is not.
func TestLeaderLastSeqTakesOnlyTheLeadersAnswer(t *testing.T) {
	nc := plainServer(t)
	cases := []struct {
		name, answer string
		want         uint64
		wantErr      string // "" for none
	}{
		{"the leader answered", `{"state":{"last_seq":42},"cluster":{"leader":"n1","replicas":[{"name":"n2"},{"name":"n3"}]}}`, 42, ""},
		{"a single server", `{"state":{"last_seq":7},"cluster":{"leader":"solo"}}`, 7, ""},
		{"no cluster in the answer", `{"state":{"last_seq":9}}`, 9, ""},
		{"another member answered", `{"state":{"last_seq":41},"cluster":{"leader":"n1","replicas":[{"name":"n1"},{"name":"n3"}]}}`, 0, "other than"},
		{"no leader", `{"state":{"last_seq":40},"cluster":{"leader":"","replicas":[{"name":"n2"},{"name":"n3"}]}}`, 0, "no leader"},
		{"an API error", `{"error":{"code":404,"err_code":10059,"description":"stream not found"}}`, 0, "stream not found"},
		{"not JSON", `<html>`, 0, "invalid"},
		{"no state", `{"type":"io.nats.jetstream.api.v1.stream_info_response"}`, 0, "no state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub, err := nc.Subscribe("$JS.API.STREAM.INFO.KV_fenced", func(m *nats.Msg) { _ = m.Respond([]byte(c.answer)) })
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Unsubscribe() }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := leaderLastSeq(ctx, nc, "KV_fenced")
			switch {
			case c.wantErr == "" && (err != nil || got != c.want):
				t.Errorf("got %d, %v; want %d", got, err, c.want)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("got %d, %v; want an error with %q", got, err, c.wantErr)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := leaderLastSeq(ctx, nc, "KV_nobody"); err == nil {
		t.Error("a fence nobody answered was taken")
	}
}

// A read waits for a fence asked after the read was: never for one whose
// request was already out, which may predate a write the read must see.
// Every read asked while a fence is out shares the next one.
func TestSessionFencesAreAskedAfterTheirReads(t *testing.T) {
	nc := plainServer(t)
	asked := make(chan *nats.Msg, 4)
	sub, err := nc.Subscribe("$JS.API.STREAM.INFO.KV_"+BucketSessions, func(m *nats.Msg) { asked <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	r := &SessionReads{nc: nc, waiting: map[string]chan *nats.Msg{}}
	answer := func(m *nats.Msg, last string) {
		t.Helper()
		if err := m.Respond([]byte(`{"state":{"last_seq":` + last + `},"cluster":{"leader":"n1","replicas":[{"name":"n2"},{"name":"n3"}]}}`)); err != nil {
			t.Fatal(err)
		}
	}
	nextRequest := func() *nats.Msg {
		t.Helper()
		select {
		case m := <-asked:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("no fence asked of the leader")
			return nil
		}
	}

	first := r.fence()
	firstAsked := nextRequest()
	// Asked while the first fence's request is out: a new fence.
	second, third := r.fence(), r.fence()
	if second == first {
		t.Fatal("a read asked after a fence's request went out was given that fence")
	}
	if third != second {
		t.Error("two reads asked while one fence was out got different fences: one request each")
	}
	answer(firstAsked, "10")
	<-first.done
	if first.err != nil || first.last != 10 {
		t.Errorf("first fence: %d, %v", first.last, first.err)
	}
	secondAsked := nextRequest()
	select {
	case <-second.done:
		t.Fatal("the second fence was passed before its own request was answered")
	default:
	}
	answer(secondAsked, "20")
	<-second.done
	if second.err != nil || second.last != 20 {
		t.Errorf("second fence: %d, %v", second.last, second.err)
	}
	// No reads waiting: no more requests.
	select {
	case m := <-asked:
		t.Errorf("a fence asked with no read waiting: %s", m.Subject)
	case <-time.After(200 * time.Millisecond):
	}
}
