package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/egress"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/housekeeping"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/logging"
	"github.com/aftercare/aftercare/internal/metrics"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/planner"
	"github.com/aftercare/aftercare/internal/quota"
	"github.com/aftercare/aftercare/internal/staff"
)

func run(ctx context.Context, _ []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, clinicList, err := config.LoadScheduler(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel, cfg.LogFormat).With("program", "scheduler")
	directory, err := clinics.New(clinicList)
	if err != nil {
		return err
	}

	connectCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, store, err := natsjs.Open(connectCtx, cfg.NATS, "aftercare-scheduler", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	consumer, err := natsjs.PlannerConsumer(connectCtx, conn.JS)
	if err != nil {
		return err
	}

	now := time.Now
	plans := &planner.Planner{Store: store, Clinics: directory, Policy: cfg.Policy(), Now: now, Log: log, Stats: &planner.Stats{}, Caps: cfg.Caps(),
		Confirmations: &inbox.Store{S: store, Clinics: directory, Steps: len(cfg.Offsets)}}
	runner := &jobs.Runner{
		Name: natsjs.ConsumerPlanner, Consumer: consumer, Concurrency: cfg.PlannerConcurrency, Handle: plans.Handle,
		DeadLetter: func(ctx context.Context, msg jetstream.Msg, reason string) error {
			return store.DeadLetter(ctx, "session", msg.Subject(), msg.Data(), reason)
		},
		JobTimeout: 20 * time.Second, UnexpectedDelay: time.Second, Log: log,
		// A record that cannot be decoded never will be: dead-letter the event.
		Hopeless: []error{natsjs.ErrCorrupt},
	}
	stopRunner := runner.Start()
	defer func() { _ = stopRunner(context.Background()) }()

	quotas := &quota.Keeper{Counters: store, Defaults: quota.Limits{PerClinic: cfg.QuotaPerClinic, PerRecipient: cfg.QuotaPerRecipient}, Log: log}
	intakeSvc := &intake.Service{Store: store, Clinics: directory, Now: now, Log: log, MaxBody: cfg.MaxBodyBytes, Results: &intake.Results{},
		Policy: cfg.Policy(), Quotas: quotas}
	reg := metrics.NewRegistry()
	metrics.BuildInfo(reg, "scheduler")
	metrics.Connection(reg, conn.NC.IsConnected, func() time.Duration { return conn.DownFor(time.Now()) })
	schedulerMetrics(reg, intakeSvc.Results, plans.Stats, consumer, store, directory)
	quotaMetrics(reg, quotas, directory.IDs())
	sub, err := conn.NC.QueueSubscribe(natsjs.IntakeSubject, "scheduler", func(m *nats.Msg) {
		// Requests already taken are finished even while shutting down.
		reqCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		reply := intakeSvc.Reply(reqCtx, m.Header.Get("Authorization"), m.Data)
		data, _ := json.Marshal(reply)
		if err := m.Respond(data); err != nil {
			log.Warn("nats intake: reply failed", "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", natsjs.IntakeSubject, err)
	}

	reconciler := &housekeeping.Reconciler{Store: store, Grace: cfg.ReconcileGrace, Now: now, Log: log}
	crons, err := housekeeping.Start(ctx, cfg.ReconcileSchedule, reconciler)
	if err != nil {
		return err
	}

	audit := &staff.Audit{JS: store.JetStream(), Now: now}
	if _, err := store.JetStream().Stream(ctx, natsjs.RetiredStreamAudit); err == nil {
		log.Warn("the audit stream of an earlier version is still there, with staff replies' text: run \"scheduler audit migrate\" once", "stream", natsjs.RetiredStreamAudit)
	}
	erasureSvc := &erasure.Service{Store: store, Inbox: &inbox.Store{S: store, Clinics: directory, Steps: len(cfg.Offsets)}, Audit: audit, Steps: len(cfg.Offsets), Now: now,
		EscalationRetention: cfg.NATS.EscalationRetention,
		AtTwilio:            func(id string) bool { c, ok := directory.Lookup(id); return ok && c.EraseAtTwilio },
		Log:                 log}
	// Erasures run as jobs, one client at a time per scheduler. One cut
	// short by a crash is handed back after eraseAckWait; one in hand
	// says so every eraseAckWait/4, however long it takes.
	const eraseAckWait = time.Minute
	eraseConsumer, err := natsjs.ClientEraseConsumer(connectCtx, conn.JS, eraseAckWait)
	if err != nil {
		return err
	}
	erasureJobs := &erasure.Jobs{Service: erasureSvc, Store: store, Now: now, Log: log, Heartbeat: eraseAckWait / 4}
	stopEraser := (&jobs.Runner{Name: natsjs.ConsumerClientErase, Consumer: eraseConsumer, Concurrency: 1, Handle: erasureJobs.Handle,
		DeadLetter: func(ctx context.Context, msg jetstream.Msg, reason string) error {
			return store.DeadLetter(ctx, "erasure", msg.Subject(), msg.Data(), reason)
		},
		JobTimeout: 30 * time.Minute, UnexpectedDelay: 5 * time.Second, Log: log, Hopeless: []error{natsjs.ErrCorrupt},
	}).Start()
	defer func() { _ = stopEraser(context.Background()) }()
	retention := &housekeeping.Retention{Store: store, Erasure: erasureSvc, Audit: erasureSvc.Audit, Clinics: clinicList, Texts: cfg.NATS.Retention, Escalations: cfg.NATS.EscalationRetention,
		MaxPerRun: cfg.RetentionMaxPerRun, Now: now, Log: log}
	if err := housekeeping.AddRetention(ctx, crons, cfg.RetentionSchedule, retention); err != nil {
		return err
	}
	// Tombstones no job will take down, swept as often as timers are.
	if err := housekeeping.AddErasureSweep(ctx, crons, cfg.ReconcileSchedule, erasureJobs, log); err != nil {
		return err
	}

	staffSvc := staff.New(store, staff.Limits{PerAccount: cfg.LoginAttemptsPerAccount, PerAddress: cfg.LoginAttemptsPerAddress}, now, log)
	lifecycle := &escalation.Lifecycle{Store: store, Clinics: directory, Now: now, Log: log}
	inboxWeb := &inbox.Web{Staff: staffSvc, Audit: audit, Store: &inbox.Store{S: store, Clinics: directory, Steps: len(cfg.Offsets)},
		Escalations: lifecycle, SecureCookie: cfg.InboxCookieSecure,
		TrustForwardedFor: cfg.TrustForwardedFor, Now: now, Log: log}
	if cfg.DemoStaff {
		if err := demoStaff(ctx, staffSvc, clinicList[0].ID); err != nil {
			return err
		}
	}

	ready := func() error { return conn.Ready(ctx, consumer) }
	live := func() error { return conn.Live(time.Now(), cfg.NATS.DownLiveness) }
	api := &httpapi.SchedulerAPI{Intake: intakeSvc, Store: store, Steps: len(cfg.Offsets), Ready: ready, Live: live, Now: time.Now, Log: log, Metrics: metrics.Handler(reg),
		// A clinic's api_base_url is its setting: the same rules as its
		// escalation webhook (no redirects, no internal addresses).
		BookingHTTP: egress.NewClient(egress.Options{Timeout: 10 * time.Second, AllowLoopback: cfg.BookingAPIAllowLoopback}),
		Escalations: lifecycle,
		Staff:       staffSvc, Audit: audit, Inbox: inboxWeb, Erasure: erasureSvc, ErasureJobs: erasureJobs}
	if prof, err := httpapi.ListenPprof(cfg.PprofAddr, log); err != nil {
		return err
	} else if prof != nil {
		defer func() { _ = prof.Stop(context.Background()) }()
	}
	http, err := httpapi.Listen(cfg.HTTPAddr, httpapi.SchedulerRoutes(api), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "scheduler listening on http://%s\n", http.Addr())
	fmt.Fprintf(stdout, "staff inbox at http://%s/inbox\n", http.Addr())
	if cfg.DemoStaff {
		fmt.Fprintf(stdout, "demo login: %s / %s\n", demoEmail, demoPassword)
	}
	if url := conn.ClientURL(); url != "" {
		fmt.Fprintf(stdout, "embedded nats-server at %s (other programs: NATS_URL=%s NATS_NKEY_SEED_FILE=%s)\n", url, url, conn.SeedFile())
	}
	log.Info("scheduler started", "http", http.Addr(), "clinics", len(clinicList), "offsets", fmt.Sprint(cfg.Offsets))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-http.Failed():
	case err := <-conn.Lost():
		// Exit non-zero, so that Kubernetes or systemd starts the program
		// afresh, rather than answer 503 until someone restarts it.
		serveErr = fmt.Errorf("nats connection closed for good (%w); stopping, to be restarted with a new connection", err)
	}
	// Stop taking events, finish those in flight, then plan what is pulled.
	log.Info("scheduler stopping")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelShutdown()
	if err := http.Stop(shutdownCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := sub.Drain(); err != nil {
		log.Warn("nats intake drain", "err", err)
	}
	<-crons.Stop().Done()
	if err := stopRunner(shutdownCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	// An erasure cut short is handed back, and run again from the start.
	if err := stopEraser(shutdownCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	log.Info("scheduler stopped")
	return serveErr
}
