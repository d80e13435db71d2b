package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// behindReplica answers session reads as a replica behind its leader does:
// with a record the store held earlier (or none), whatever it holds now.
type behindReplica struct {
	sess  aftercare.Session
	rev   uint64
	err   error
	reads int
}

func (r *behindReplica) SessionFromAnyReplica(context.Context, string, string) (aftercare.Session, uint64, error) {
	r.reads++
	return r.sess, r.rev, r.err
}

// replicaAsNow is a replica holding session s1 as the store has it now;
// later writes then pass it by.
func (b bundle) replicaAsNow(t *testing.T) *behindReplica {
	t.Helper()
	sess, rev, err := b.env.Store.Session(context.Background(), "harbour", "s1")
	if err != nil {
		t.Fatal(err)
	}
	r := &behindReplica{sess: sess, rev: rev}
	b.dispatcher.Replicas = r
	return r
}

// A replica behind must not make a new plan's text look superseded: an
// answer older than the job's plan, or none, is asked of the leader.
func TestReplicaBehindTheJobsPlanAsksTheLeader(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		older func(t *testing.T, b bundle) *behindReplica
	}{
		{"with the plan before", func(t *testing.T, b bundle) *behindReplica { return b.replicaAsNow(t) }},
		{"with no session yet", func(t *testing.T, b bundle) *behindReplica {
			r := &behindReplica{err: aftercare.ErrNotFound}
			b.dispatcher.Replicas = r
			return r
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.plan(t, 1, "harbour")
			replica := tt.older(t, b)
			job := b.plan(t, 2, "harbour")
			outcome(t, b.dispatcher.Send(context.Background(), job), "ack")
			if n := len(b.twilio.Messages()); n != 1 {
				t.Fatalf("%d messages, want plan 2's one", n)
			}
			if f := b.record(t, "harbour"); f.Status != aftercare.FollowUpSent || f.PlanVersion != 2 {
				t.Errorf("record %+v, want plan 2 sent", f)
			}
			if replica.reads != 1 || b.dispatcher.Stats.SessionsBehind.Load() != 1 {
				t.Errorf("%d replica reads, %d counted behind; want 1 and 1", replica.reads, b.dispatcher.Stats.SessionsBehind.Load())
			}
		})
	}
}

// A replica that does not yet show what must stop a text cannot let it go:
// each of these marks the follow-up's record, at the leader, and the claim
// is conditional on that record.
func TestReplicaBehindCannotHideWhatStopsAText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		stop    func(t *testing.T, b bundle)
		outcome string
	}{
		{"the clinic's escalation hold", func(t *testing.T, b bundle) {
			clinic, _ := b.dispatcher.Clinics.Lookup("harbour")
			raise := &escalation.Lifecycle{Store: b.env.Store, Clinics: b.dispatcher.Clinics, Now: b.clock.Now, Log: b.dispatcher.Log}
			reply := aftercare.Reply{InboundSMS: aftercare.InboundSMS{MessageSID: "SMworse", ClinicID: "harbour", From: "+447700900123",
				Body: "much worse today", ReceivedAt: b.clock.Now()}, SessionID: "s1", Class: "worsening"}
			if _, cancelled, err := raise.Raise(context.Background(), clinic, reply, "", 3); err != nil || cancelled == 0 {
				t.Fatalf("raise: %d tips cancelled, %v", cancelled, err)
			}
		}, "ack"},
		{"a cancellation", func(t *testing.T, b bundle) {
			ev := aftercare.SessionEvent{EventID: "e9", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindCancelled}
			if err := b.planner.Apply(context.Background(), 2, ev); err != nil {
				t.Fatal(err)
			}
		}, "ack"},
		{"a move to a later time", func(t *testing.T, b bundle) {
			later := sessionEnd.Add(48 * time.Hour)
			ev := aftercare.SessionEvent{EventID: "e9", ClinicID: "harbour", SessionID: "s1", Kind: aftercare.KindRescheduled, NewSessionEnd: &later,
				Client: &aftercare.Client{Phone: "+447700900123", TimeZone: "Europe/London"}}
			if err := b.planner.Apply(context.Background(), 2, ev); err != nil {
				t.Fatal(err)
			}
		}, "ack"},
		{"the client's erasure", func(t *testing.T, b bundle) {
			ctx := context.Background()
			tok := natsjs.SessionKey("harbour", "s1")
			keys, err := b.env.Store.Keys(ctx, natsjs.BucketFollowUps, tok+".*")
			if err != nil || len(keys) == 0 {
				t.Fatalf("follow-up keys %v, %v", keys, err)
			}
			if err := b.env.Store.EraseKeys(ctx, natsjs.BucketFollowUps, keys...); err != nil {
				t.Fatal(err)
			}
			if err := b.env.Store.EraseKeys(ctx, natsjs.BucketSessions, tok); err != nil {
				t.Fatal(err)
			}
		}, "give up"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			job := b.plan(t, 1, "harbour")
			replica := b.replicaAsNow(t)
			tt.stop(t, b)
			outcome(t, b.dispatcher.Send(context.Background(), job), tt.outcome)
			if n := b.twilio.Requests(); n != 0 {
				t.Errorf("%d send requests, want none", n)
			}
			if replica.reads == 0 {
				t.Error("the replica was never asked: the test shows nothing")
			}
			f, _, err := b.env.Store.FollowUp(context.Background(), "harbour", "s1", 1)
			if err == nil && f.Status == aftercare.FollowUpSent {
				t.Errorf("record %+v", f)
			}
		})
	}
}
