package natsjs_test

import (
	"context"
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
	}
	for id, want := range tests {
		if got := natsjs.Token(id); got != want {
			t.Errorf("Token(%q) = %q, want %q", id, got, want)
		}
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
		if _, err := natsjs.SenderConsumer(ctx, env.Conn.JS, 30*time.Second, 64); err != nil {
			t.Fatal(err)
		}
	}
}

func TestScheduleFiresAtItsTime(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	ctx := context.Background()
	cons, err := natsjs.SenderConsumer(ctx, env.Conn.JS, 30*time.Second, 64)
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
