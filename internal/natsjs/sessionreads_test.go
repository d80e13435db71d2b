package natsjs_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// A replica behind its leader is offered every session read, and none of
// its answers is taken: each read gives the leader's last write. A replica
// that has caught up is taken at its word.
func TestSessionReadsTakeNoAnswerBehindTheLeader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := natsjstest.Start(t)
	natsjs.UseLeaderReads(env.Store) // as on a cluster
	first := aftercare.Session{ClinicID: "harbour", SessionID: "s1", PlanVersion: 1, Status: aftercare.SessionActive}
	firstRev, err := env.Store.SaveSession(ctx, first, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancelled := first
	cancelled.PlanVersion, cancelled.Status = 2, aftercare.SessionCancelled
	if _, err := env.Store.SaveSession(ctx, cancelled, firstRev); err != nil {
		t.Fatal(err)
	}

	// Two replicas take turns to answer: one that has applied nothing
	// since the first write, and the stream itself.
	stale, _ := json.Marshal(first)
	turn := 0
	replicas, err := env.Conn.NC.Subscribe("test.replicas", func(m *nats.Msg) {
		if turn++; turn%2 == 0 {
			_ = env.Conn.NC.PublishRequest("$JS.API.DIRECT.GET.KV_"+natsjs.BucketSessions, m.Reply, m.Data)
			return
		}
		seq := strconv.FormatUint(firstRev, 10)
		_ = env.Conn.NC.PublishMsg(&nats.Msg{Subject: m.Reply, Data: stale, Header: nats.Header{"Nats-Sequence": {seq}}})
		_ = env.Conn.NC.PublishMsg(&nats.Msg{Subject: m.Reply, Header: nats.Header{"Status": {"204"}, "Nats-UpTo-Sequence": {seq}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer replicas.Unsubscribe()

	reads := natsjs.NewSessionReads(env.Store)
	natsjs.RouteSessionGets(reads, "test.replicas")
	for i := range 60 {
		sess, _, err := reads.Session(ctx, "harbour", "s1")
		if err != nil || sess.PlanVersion != 2 || sess.Status != aftercare.SessionCancelled {
			t.Fatalf("read %d: plan %d %s, %v; want plan 2 cancelled", i, sess.PlanVersion, sess.Status, err)
		}
	}
	if reads.Leader.Load() != 30 || reads.Replica.Load() != 30 {
		t.Errorf("%d answers taken from a replica, %d reads sent to the leader; want the current one's 30 and the other 30",
			reads.Replica.Load(), reads.Leader.Load())
	}

	if _, _, err := reads.Session(ctx, "sol", "s1"); err != aftercare.ErrNotFound {
		t.Errorf("another clinic's session of the same id: %v, want not found", err)
	}
}
