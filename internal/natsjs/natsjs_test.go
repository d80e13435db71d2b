package natsjs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

func TestToken(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"appt-5521":   "appt-5521",
		"A_b-9":       "A_b-9",
		"a.b":         "=YS5i",
		"x y":         "=eCB5",
		"=YS5i":       "=PVlTNWk", // an id that looks encoded is encoded too
		"évt>*":       "=w6l2dD4q",
		"booking/123": "=Ym9va2luZy8xMjM",
		"":            "=",
		"a\nb":        "=YQpi",
	}
	for id, want := range tests {
		if got := natsjs.Token(id); got != want {
			t.Errorf("Token(%q) = %q, want %q", id, got, want)
		}
	}
	// The backstop behind the edges' bound: an id of any length makes a
	// short token, and two long ids still make two tokens.
	long := strings.Repeat("~", 3000)
	a, b := natsjs.Token(long), natsjs.Token(long+"x")
	if len(a) > 64 || a == b || !strings.HasPrefix(a, "==") {
		t.Errorf("Token of a 3,000-byte id: %q (%d bytes), of another: %q", a, len(a), b)
	}
}

func TestProvisionIsIdempotent(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t) // provisions once
	ctx := context.Background()
	for range 2 {
		if _, err := natsjs.Provision(ctx, env.Conn.JS, natsjs.Settings{Replicas: 1, Retention: 40 * 24 * time.Hour}); err != nil {
			t.Fatalf("provision again: %v", err)
		}
	}
	s, err := env.Conn.JS.Stream(ctx, natsjs.StreamFollowUps)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	if !info.Config.AllowMsgSchedules || info.Config.MaxAge != 40*24*time.Hour {
		t.Errorf("stream not updated: %+v", info.Config)
	}
	for range 2 {
		if _, err := natsjs.PlannerConsumer(ctx, env.Conn.JS); err != nil {
			t.Fatal(err)
		}
		if _, err := natsjs.SenderLane(ctx, env.Conn.JS, "harbour", 30*time.Second, 64); err != nil {
			t.Fatal(err)
		}
	}
}

func TestScheduleFiresAtItsTime(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	cons, err := natsjs.SenderLane(ctx, env.Conn.JS, "harbour", 30*time.Second, 64)
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(1500 * time.Millisecond)
	job := aftercare.DueFollowUp{ClinicID: "harbour", SessionID: "s1", Step: 1, PlanVersion: 1, DueAt: due}
	if err := env.Store.Schedule(ctx, job); err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	arrived := time.Now()
	if arrived.Before(due) {
		t.Errorf("fired %v early", due.Sub(arrived))
	}
	if msg.Subject() != "followups.due.harbour.s1.1" {
		t.Errorf("subject %s", msg.Subject())
	}
	_ = msg.Ack()
}

// A deferred job fires again at the later time, unchanged (its due time
// included, which lateness and staleness are measured from), and only in
// its own clinic's lane.
func TestDeferredJobFiresLaterInItsLane(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	harbour, err := natsjs.SenderLane(ctx, env.Conn.JS, "harbour", 30*time.Second, 64)
	if err != nil {
		t.Fatal(err)
	}
	sol, err := natsjs.SenderLane(ctx, env.Conn.JS, "sol", 30*time.Second, 64)
	if err != nil {
		t.Fatal(err)
	}
	job := aftercare.DueFollowUp{ClinicID: "harbour", SessionID: "s1", Step: 2, PlanVersion: 3, DueAt: time.Now().Add(-time.Hour).Round(0)}
	// A reschedule has meanwhile set the step's timer for a newer plan.
	newer := aftercare.DueFollowUp{ClinicID: "harbour", SessionID: "s1", Step: 2, PlanVersion: 4, DueAt: time.Date(2037, 1, 5, 10, 0, 0, 0, time.UTC)}
	if err := env.Store.Schedule(ctx, newer); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(1500 * time.Millisecond)
	if err := env.Store.Defer(ctx, job, until); err != nil {
		t.Fatal(err)
	}
	stream, err := env.Conn.JS.Stream(ctx, natsjs.StreamFollowUps)
	if err != nil {
		t.Fatal(err)
	}
	timer, err := stream.GetLastMsgForSubject(ctx, "followups.schedule.harbour.s1.2")
	if err != nil {
		t.Fatalf("the newer plan's timer is gone: %v", err)
	}
	if !strings.Contains(string(timer.Data), `"plan_version":4`) {
		t.Fatalf("the newer plan's timer was replaced by the deferral: %s", timer.Data)
	}
	msg, err := harbour.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if arrived := time.Now(); arrived.Before(until) {
		t.Errorf("fired %v early", until.Sub(arrived))
	}
	var got aftercare.DueFollowUp
	if err := json.Unmarshal(msg.Data(), &got); err != nil {
		t.Fatal(err)
	}
	if !got.DueAt.Equal(job.DueAt) || got.PlanVersion != 3 || got.Step != 2 {
		t.Errorf("deferred job came back as %+v, want %+v", got, job)
	}
	_ = msg.Ack()
	if _, err := sol.Next(jetstream.FetchMaxWait(500 * time.Millisecond)); err == nil {
		t.Error("another clinic's lane got harbour's job")
	}
}

// The do-not-text list holds opt-outs and failing numbers apart: a failing
// mark never hides an opt-out, and a client's text lifts only the mark.
func TestDoNotText(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx, st, now := context.Background(), env.Store, time.Now()
	const phone = "+447700900123"
	check := func(want string) {
		t.Helper()
		got, err := st.DoNotText(ctx, "harbour", phone)
		if err != nil || got != want {
			t.Fatalf("DoNotText = %q, %v; want %q", got, err, want)
		}
	}
	check("")
	if err := st.MarkFailing(ctx, "harbour", phone, "Twilio error 30005", now); err != nil {
		t.Fatal(err)
	}
	check("number failing: Twilio error 30005 since " + now.UTC().Format(time.RFC3339))
	if out, _ := st.OptedOut(ctx, "harbour", phone); out {
		t.Error("a failing number counts as opted out")
	}
	if err := st.ClearFailing(ctx, "harbour", phone); err != nil {
		t.Fatal(err)
	}
	check("")
	if err := st.SetOptOut(ctx, "harbour", phone, true, now); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFailing(ctx, "harbour", phone, "Twilio error 21211", now); err != nil {
		t.Fatal(err)
	}
	if err := st.ClearFailing(ctx, "harbour", phone); err != nil {
		t.Fatal(err)
	}
	check("client opted out")
	if reason, _ := st.DoNotText(ctx, "sol", phone); reason != "" {
		t.Errorf("another clinic sees harbour's opt-out: %q", reason)
	}
}

// A lane made on an upgrade starts where the shared consumer it replaces
// had acknowledged up to: jobs already handled are not handed out again.
// A lane made for a new clinic takes every job of that clinic's.
func TestLanesStartWhereTheSharedConsumerWas(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	shared, err := env.Conn.JS.CreateOrUpdateConsumer(ctx, natsjs.StreamFollowUps, jetstream.ConsumerConfig{
		Durable: natsjs.ConsumerSender, FilterSubject: "followups.due.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, clinic := range []string{"harbour", "harbour", "harbour", "sol"} {
		job := aftercare.DueFollowUp{ClinicID: clinic, SessionID: fmt.Sprint("s", i), Step: 1, PlanVersion: 1, DueAt: time.Now()}
		if err := env.Store.FireNow(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := shared.Fetch(2, jetstream.FetchMaxWait(5*time.Second)) // the old worker handled two
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	harbour, err := natsjs.SenderLane(ctx, env.Conn.JS, "harbour", time.Minute, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsjs.RemoveSharedSender(ctx, env.Conn.JS); err != nil {
		t.Fatal(err)
	}
	sol, err := natsjs.SenderLane(ctx, env.Conn.JS, "sol", time.Minute, 16)
	if err != nil {
		t.Fatal(err)
	}
	subjects := func(c jetstream.Consumer) []string {
		var got []string
		batch, err := c.Fetch(10, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			got = append(got, msg.Subject())
		}
		return got
	}
	if got := subjects(harbour); len(got) != 1 || got[0] != "followups.due.harbour.s2.1" {
		t.Errorf("harbour's lane got %v, want only the job the old worker had not handled", got)
	}
	if got := subjects(sol); len(got) != 1 || got[0] != "followups.due.sol.s3.1" {
		t.Errorf("sol's lane got %v, want sol's job", got)
	}
	// Made again on the next start, a lane keeps its place.
	if _, err := natsjs.SenderLane(ctx, env.Conn.JS, "harbour", time.Minute, 16); err != nil {
		t.Errorf("lane made again: %v", err)
	}
}
