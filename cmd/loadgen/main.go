// Command loadgen measures the service end to end on this machine: it runs
// nats-server, the scheduler and the worker as separate processes, a Twilio
// stand-in that records when each text arrives, pushes session events over
// the real HTTP intake with offsets compressed so that every follow-up falls
// due within a chosen window, and prints intake, delivery, correctness and
// resource figures. It exits non-zero if any follow-up is lost or sent twice.
//
// With -compare it first runs the bare engine on the same nats-server
// settings and stand-in (timers as JetStream schedules, one pull consumer,
// twilio-go, ack: see engine.go), and prints the service's figures as a
// ratio of the engine's, measured minutes apart on the same machine.
//
//	go run ./cmd/loadgen -sessions 2000 -window 10s -fsync 2m
//	go run ./cmd/loadgen -compare -sessions 16667 -window 10s -lead 45s
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
