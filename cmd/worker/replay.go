package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/logging"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// runReplay is "worker replay-dead-letters [-kind followup|escalation]
// [-clinic ID] [-apply]": it lists dead letters and, with -apply, puts each
// back to work (a follow-up's record reset and its job fired now; an
// escalation announced again) and removes it from the dead-letter stream.
// Fix the cause first (a Twilio outage, a wrong number, a clinic webhook).
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay-dead-letters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "followup", "what to replay: followup or escalation")
	clinic := fs.String("clinic", "", "only this clinic's dead letters")
	apply := fs.Bool("apply", false, "replay them; without it, only list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kind != "followup" && *kind != "escalation" {
		return fmt.Errorf("replay-dead-letters: -kind %q is not followup or escalation", *kind)
	}
	cfg, _, err := config.LoadWorker(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel, cfg.LogFormat).With("program", "worker", "command", "replay-dead-letters")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	conn, store, err := natsjs.Open(ctx, cfg.NATS, "aftercare-replay", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	filter := "deadletter." + *kind + ".>"
	if *clinic != "" {
		filter = "deadletter." + *kind + "." + *clinic + ".>"
	}
	letters, err := store.DeadLetters(ctx, filter)
	if err != nil {
		return err
	}
	replayed := 0
	for _, dl := range letters {
		fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\n", dl.Seq, dl.At.UTC().Format(time.RFC3339), dl.Subject, dl.Reason)
		if !*apply {
			continue
		}
		if err := replayOne(ctx, store, *kind, dl); err != nil {
			fmt.Fprintf(stdout, "\tnot replayed: %v\n", err)
			continue
		}
		if err := store.DeleteDeadLetter(ctx, dl.Seq); err != nil {
			return fmt.Errorf("replayed %d but could not remove it: %w", dl.Seq, err)
		}
		replayed++
	}
	fmt.Fprintf(stdout, "%d dead letters on %s; %d replayed\n", len(letters), filter, replayed)
	return nil
}

func replayOne(ctx context.Context, store *natsjs.Store, kind string, dl natsjs.StoredDeadLetter) error {
	if kind == "escalation" {
		var e aftercare.Escalation
		if err := json.Unmarshal(dl.Data, &e); err != nil || e.ID == "" {
			return errors.New("not an escalation")
		}
		lifecycle := &escalation.Lifecycle{Store: store, Now: time.Now}
		return lifecycle.Replay(ctx, e.ClinicID, e.ID, strconv.FormatUint(dl.Seq, 10))
	}
	var job aftercare.DueFollowUp
	if err := json.Unmarshal(dl.Data, &job); err != nil || job.ClinicID == "" {
		return errors.New("not a follow-up job")
	}
	stale := false
	err := store.UpdateFollowUp(ctx, job.ClinicID, job.SessionID, job.Step, func(f *aftercare.FollowUp) bool {
		stale = f.PlanVersion != job.PlanVersion || f.Status != aftercare.FollowUpDead
		if stale {
			return false
		}
		f.Status, f.Attempts, f.Reason, f.UpdatedAt = aftercare.FollowUpScheduled, 0, "replayed from the dead letter: "+dl.Reason, time.Now()
		return true
	})
	if err != nil {
		return err
	}
	if stale {
		return errors.New("the follow-up has moved on (sent, replanned or cancelled) since")
	}
	// DueAt stays: the worker's staleness check decides whether it is
	// still worth sending, so a day-old tip is skipped, not sent late. The
	// record was written just now: the job reads it, and the session (a
	// letter stored before they were left out may carry its client).
	job.PlannedRevision, job.Client, job.Service = 0, nil, ""
	return store.FireNow(ctx, job)
}
