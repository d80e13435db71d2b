package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/dispatch"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/logging"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/twilio"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "triage" {
		return runTriage(args[1:], stdout, stderr)
	}
	cfg, clinicList, err := config.LoadWorker(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel, cfg.LogFormat).With("program", "worker")
	directory, err := clinics.New(clinicList)
	if err != nil {
		return err
	}
	var sender sms.Sender
	switch cfg.SMSDriver {
	case config.DriverTwilio:
		sender, err = twilio.New(twilio.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, BaseURL: cfg.TwilioBaseURL, Timeout: cfg.TwilioTimeout})
		if err != nil {
			return err
		}
	default:
		sender = sms.NewConsole(stdout)
	}

	connectCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, store, err := natsjs.Open(connectCtx, cfg.NATS, "aftercare-worker", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	consumer, err := natsjs.SenderConsumer(connectCtx, conn.JS, cfg.AckWait, 4*cfg.Concurrency)
	if err != nil {
		return err
	}

	statusCallback := ""
	if cfg.PublicBaseURL != "" {
		statusCallback = strings.TrimSuffix(cfg.PublicBaseURL, "/") + "/v1/twilio/status"
	}
	dispatcher := &dispatch.Dispatcher{
		Store: store, Clinics: directory, Sender: sender,
		Staleness: cfg.Staleness, MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryBaseDelay, RetryMax: cfg.RetryMaxDelay,
		ClaimLease: cfg.AckWait, StatusCallback: statusCallback,
		Limits: dispatch.NewRateLimits(cfg.SendRate, cfg.SendBurst),
		Now:    time.Now, Log: log, Stats: &dispatch.Stats{},
	}
	runner := &jobs.Runner{
		Name: natsjs.ConsumerSender, Consumer: consumer, Concurrency: cfg.Concurrency,
		Handle: dispatcher.Handle, DeadLetter: dispatcher.DeadLetter,
		// Leave room within AckWait to record the outcome after a slow send.
		JobTimeout: cfg.AckWait - 5*time.Second, UnexpectedDelay: 2 * time.Second, Log: log,
	}
	stopRunner := runner.Start()
	defer func() { _ = stopRunner(context.Background()) }()

	ready := func() error { return conn.Ready(ctx, consumer) }
	http, err := httpapi.Listen(cfg.HTTPAddr, httpapi.WorkerRoutes(ready), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "worker listening on http://%s (sms driver: %s)\n", http.Addr(), cfg.SMSDriver)
	log.Info("worker started", "http", http.Addr(), "driver", cfg.SMSDriver, "concurrency", cfg.Concurrency, "rate_per_sender", cfg.SendRate)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-http.Failed():
	}
	// Stop pulling, finish or hand back the jobs in hand, then close NATS.
	log.Info("worker stopping")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelShutdown()
	if err := stopRunner(shutdownCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	if err := http.Stop(shutdownCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	log.Info("worker stopped", "sent", dispatcher.Stats.Sent.Load(), "dead_lettered", dispatcher.Stats.DeadLettered.Load())
	return serveErr
}
