package natsjs_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

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

	// Replicas take turns to answer: two that have applied nothing since
	// the first write, then the stream itself. A read asks a replica twice
	// before the leader, so reads alternate: the leader's answer, then a
	// current replica's after a stale one.
	stale, _ := json.Marshal(first)
	var turn atomic.Int32
	replicas, err := env.Conn.NC.Subscribe("test.replicas", func(m *nats.Msg) {
		if turn.Add(1)%3 == 0 {
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
	if reads.Leader.Load() != 30 || reads.Replica.Load() != 30 || turn.Load() != 90 {
		t.Errorf("%d answers taken from a replica, %d reads sent to the leader, %d replica gets; want 30, 30 and 90",
			reads.Replica.Load(), reads.Leader.Load(), turn.Load())
	}

	if _, _, err := reads.Session(ctx, "sol", "s1"); err != aftercare.ErrNotFound {
		t.Errorf("another clinic's session of the same id: %v, want not found", err)
	}
}

// A replica's answer lost (the replica stopped as it was asked) costs a
// read a second, not the job's whole time: the leader is asked then.
func TestSessionReadsAskTheLeaderWhenNoReplicaAnswers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	env := natsjstest.Start(t)
	natsjs.UseLeaderReads(env.Store)
	if _, err := env.Store.SaveSession(ctx, aftercare.Session{ClinicID: "harbour", SessionID: "s1", PlanVersion: 3}, 0); err != nil {
		t.Fatal(err)
	}
	silent, err := env.Conn.NC.Subscribe("test.silent", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Unsubscribe()
	reads := natsjs.NewSessionReads(env.Store)
	natsjs.RouteSessionGets(reads, "test.silent")
	start := time.Now()
	sess, _, err := reads.Session(ctx, "harbour", "s1")
	if err != nil || sess.PlanVersion != 3 {
		t.Fatalf("plan %d, %v; want plan 3", sess.PlanVersion, err)
	}
	if took := time.Since(start); took > 5*time.Second || reads.Leader.Load() != 1 {
		t.Errorf("took %v with %d leader reads; want the leader's answer after about a second", took, reads.Leader.Load())
	}
}
