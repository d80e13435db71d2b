package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// Two schedulers and two workers started at the same moment against a fresh
// 3-node cluster (what kubectl apply does) all provision their streams,
// buckets and consumers within seconds. nats-server leaves a create
// unanswered when an identical one is in flight; each try is bounded and
// asked again, so none waits out its whole start-up deadline.
func TestFirstStartOnAClusterConverges(t *testing.T) {
	t.Parallel()
	cluster := natsjstest.StartCluster(t, 3)
	cfg := config.NATS{URL: cluster.URLs(), Replicas: 3, Retention: 720 * time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	took := make([]time.Duration, 4)
	for i := range 4 {
		wg.Go(func() {
			conn, _, err := natsjs.Open(ctx, cfg, "program", natsjstest.Logger())
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close()
			if i < 2 { // a scheduler
				_, err = natsjs.PlannerConsumer(ctx, conn.JS)
			} else { // a worker
				_, err = natsjs.SenderLane(ctx, conn.JS, "harbour", 30*time.Second, 64)
				if err == nil {
					_, err = natsjs.RepliesConsumer(ctx, conn.JS, 30*time.Second, 64)
				}
			}
			took[i], errs[i] = time.Since(start), err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("program %d: %v", i, err)
		}
		// Figures, not a timed assertion: a slow machine may take longer.
		t.Logf("program %d ready after %v", i, took[i].Round(time.Millisecond))
	}
	info, err := natsjstest.Connect(t, cluster.URLs()).Stream(ctx, natsjs.StreamFollowUps)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Config.Replicas; got != 3 {
		t.Errorf("%s has %d replicas, want 3", natsjs.StreamFollowUps, got)
	}
}

// Start-up never shrinks a replicated stream: a value below what exists is
// refused with the setting named, and an unset one keeps what exists.
func TestStartUpNeverLowersReplicas(t *testing.T) {
	t.Parallel()
	cluster := natsjstest.StartCluster(t, 3)
	js := natsjstest.Connect(t, cluster.URLs())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := natsjs.Provision(ctx, js, natsjs.Settings{Replicas: 3, Retention: 720 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	_, err := natsjs.Provision(ctx, js, natsjs.Settings{Replicas: 1, Retention: 720 * time.Hour})
	if !errors.Is(err, natsjs.ErrWouldLowerReplicas) || !strings.Contains(err.Error(), "NATS_REPLICAS=3") {
		t.Errorf("provision at R1 over R3: %v, want a refusal naming NATS_REPLICAS=3", err)
	}
	if _, err := natsjs.Provision(ctx, js, natsjs.Settings{Retention: 720 * time.Hour}); err != nil {
		t.Errorf("provision with NATS_REPLICAS unset: %v", err)
	}
	for _, name := range []string{natsjs.StreamFollowUps, natsjs.StreamReplies, "KV_" + natsjs.BucketFollowUps, "KV_" + natsjs.BucketOptOuts} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("%s has %d replicas after the refused and the unset start-ups, want 3", name, got)
		}
	}
}

// A record written through one server is read at once through another, even
// one just restarted and still catching up: the store reads from the
// leader, while a plain direct get through that server may not yet see it.
func TestReadsSeeTheirOwnWritesOnACluster(t *testing.T) {
	t.Parallel()
	cluster := natsjstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func(url string) (*natsjs.Conn, *natsjs.Store) { return openReplicated(ctx, t, url) }
	_, writes := open(cluster.Servers[0].ClientURL())
	const keys = 2000
	write := func(from, to int) {
		for i := from; i < to; i++ {
			f := aftercare.FollowUp{ClinicID: "harbour", SessionID: fmt.Sprint("s", i), Step: 1, Status: aftercare.FollowUpScheduled}
			if _, err := writes.SaveFollowUp(ctx, f, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// n3 misses half the writes, then comes back and is read through at once.
	write(0, keys/2)
	cluster.Stop(2)
	write(keys/2, keys)
	readConn, reads := open(cluster.Restart(t, 2).ClientURL())
	kv, err := readConn.JS.KeyValue(ctx, natsjs.BucketFollowUps)
	if err != nil {
		t.Fatal(err)
	}
	missed, directMissed := 0, 0
	for i := keys - 1; i >= 0; i-- { // newest first: the likeliest to be missing
		if _, err := kv.Get(ctx, fmt.Sprintf("harbour.s%d.1", i)); err != nil {
			directMissed++
		}
		if _, _, err := reads.FollowUp(ctx, "harbour", fmt.Sprint("s", i), 1); err != nil {
			missed++
		}
	}
	// For contrast only: how many a direct get missed depends on timing.
	t.Logf("through the restarted n3: the store missed %d of %d keys; a plain direct get missed %d", missed, keys, directMissed)
	if missed > 0 {
		t.Errorf("through the restarted n3 the store missed %d of %d keys", missed, keys)
	}

	// A leader read gives the same revision a direct get does, and a
	// deleted key reads as not found.
	entry, err := kv.Get(ctx, "harbour.s7.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, rev, err := reads.FollowUp(ctx, "harbour", "s7", 1); err != nil || rev != entry.Revision() {
		t.Errorf("leader read: revision %d, %v; direct get: %d", rev, err, entry.Revision())
	}
	if err := kv.Delete(ctx, "harbour.s7.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reads.FollowUp(ctx, "harbour", "s7", 1); !errors.Is(err, aftercare.ErrNotFound) {
		t.Errorf("a deleted record reads as %v, want not found", err)
	}

	// Session reads from any replica, fenced, read the last write too,
	// and the replicas, once caught up, answer most of them.
	const sessions = 300
	for i := range sessions {
		rec := aftercare.Session{ClinicID: "harbour", SessionID: fmt.Sprint("s", i), PlanVersion: 1}
		if _, err := writes.SaveSession(ctx, rec, 0); err != nil {
			t.Fatal(err)
		}
		// Read back and rewrite until it holds: under a loaded CI run an
		// update at the revision the create returned was once refused as
		// changed concurrently, right after n3's restart.
		if err := writes.UpdateSession(ctx, "harbour", rec.SessionID, func(s *aftercare.Session) bool {
			s.PlanVersion = 2
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	fenced := natsjs.NewSessionReads(reads)
	for i := sessions - 1; i >= 0; i-- {
		if sess, _, err := fenced.Session(ctx, "harbour", fmt.Sprint("s", i)); err != nil || sess.PlanVersion != 2 {
			t.Fatalf("session s%d through n3: plan %d, %v; want plan 2", i, sess.PlanVersion, err)
		}
	}
	t.Logf("session reads through n3: %d answered by a replica, %d by the leader", fenced.Replica.Load(), fenced.Leader.Load())
	if fenced.Replica.Load() < sessions/2 {
		t.Errorf("only %d of %d session reads answered by a replica", fenced.Replica.Load(), sessions)
	}
}

// openReplicated connects to a cluster's server at url, with every stream
// at R3, until the test ends.
func openReplicated(ctx context.Context, t *testing.T, url string) (*natsjs.Conn, *natsjs.Store) {
	t.Helper()
	conn, store, err := natsjs.Open(ctx, config.NATS{URL: url, Replicas: 3, Retention: 720 * time.Hour}, t.Name(), natsjstest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn, store
}
