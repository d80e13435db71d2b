// Command scheduler takes session events from clinics' booking systems (HTTP
// and NATS), plans their follow-ups as durable JetStream timers, and runs
// the periodic housekeeping.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aftercare/aftercare/internal/gctune"
)

func main() {
	gctune.Apply()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := run
	if len(os.Args) > 1 && os.Args[1] == "staff" {
		run = func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return staffCommand(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "audit" {
		run = func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return auditCommand(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
}
