package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/delivery"
	"github.com/aftercare/aftercare/internal/dispatch"
	"github.com/aftercare/aftercare/internal/egress"
	"github.com/aftercare/aftercare/internal/email"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/logging"
	"github.com/aftercare/aftercare/internal/metrics"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/replies"
	"github.com/aftercare/aftercare/internal/sendrate"
	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/spool"
	"github.com/aftercare/aftercare/internal/tips"
	"github.com/aftercare/aftercare/internal/twilio"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "triage":
			return runTriage(args[1:], stdout, stderr)
		case "replay-dead-letters":
			return runReplay(ctx, args[1:], getenv, stdout, stderr)
		default:
			return fmt.Errorf("unknown command %q: want no arguments (run the worker), triage or replay-dead-letters", args[0])
		}
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
	for _, c := range clinicList {
		// Checked at load; what is left are clinics' texts that go as UCS-2
		// and so cost more segments: the clinic should know.
		notes, _ := tips.Check(c)
		for _, note := range notes {
			log.Warn("clinic text is not GSM-7", "text", note)
		}
	}
	reg := metrics.NewRegistry()
	metrics.BuildInfo(reg, "worker")
	hooks := newWorkerHooks(reg)
	var sender sms.Sender
	switch cfg.SMSDriver {
	case config.DriverTwilio:
		sender, err = twilio.New(twilio.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken,
			APIKeySID: cfg.TwilioAPIKeySID, APIKeySecret: cfg.TwilioAPIKeySecret, BaseURL: cfg.TwilioBaseURL,
			Timeout: cfg.TwilioTimeout, Observe: hooks.twilioCall})
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
	metrics.Connection(reg, conn.NC.IsConnected, func() time.Duration { return conn.DownFor(time.Now()) })
	defer conn.Close()
	consumers, err := openConsumers(connectCtx, conn, cfg, directory.IDs())
	if err != nil {
		return err
	}

	statusCallback := ""
	if cfg.PublicBaseURL != "" {
		statusCallback = strings.TrimSuffix(cfg.PublicBaseURL, "/") + "/v1/twilio/status"
	}
	pacer := sendrate.New(store, isConflict, cfg.SendRate, cfg.SendBurst, dispatch.MaxRateWait)
	var ledgerDowns atomic.Int64
	pacer.LedgerDown = func(err error) {
		ledgerDowns.Add(1)
		log.Warn("send-slot ledger not answering: pacing senders from this worker alone for a few seconds", "err", err)
	}
	metrics.Counters(reg, "send_ledger_fallbacks_total", "Times the shared send-slot ledger did not answer (a JetStream election) and this worker paced a sender on its own for a few seconds.", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(ledgerDowns.Load())}
	})
	// The do-not-text list, held here and kept current, answers for each
	// text without a read; it stops after the runners, which ask it.
	doNotTexts := natsjs.NewDoNotTextView(store, log)
	viewCtx, stopView := context.WithCancel(context.Background())
	viewStopped := make(chan struct{})
	go func() { defer close(viewStopped); doNotTexts.Run(viewCtx) }()
	defer func() { stopView(); <-viewStopped }()
	metrics.Counters(reg, "do_not_text_answers_total", "Whether-to-text questions, by where the answer came from: the worker's copy of the do-not-text list (copy), or a read of it (read: a listed number, or the copy not current).",
		[]string{"from"}, func() []metrics.Sample {
			return []metrics.Sample{metrics.One(doNotTexts.Answered.Load(), "copy"), metrics.One(doNotTexts.Read.Load(), "read")}
		})
	// Sessions are read from any replica, fenced to be as fresh as a leader read.
	sessions := natsjs.NewSessionReads(store)
	metrics.Counters(reg, "session_reads_total", "Session reads for due follow-ups, by who answered: a replica that had reached the leader's last write (replica), or the stream's leader (leader: a single server, a replica behind, or a session not found).",
		[]string{"from"}, func() []metrics.Sample {
			return []metrics.Sample{metrics.One(sessions.Replica.Load(), "replica"), metrics.One(sessions.Leader.Load(), "leader")}
		})
	dispatcher := &dispatch.Dispatcher{
		Store: store, DoNotTexts: doNotTexts, Sessions: sessions, Clinics: directory, Sender: sender,
		Staleness: cfg.Staleness, MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryBaseDelay, RetryMax: cfg.RetryMaxDelay,
		ClaimLease: cfg.AckWait, StatusCallback: statusCallback,
		Limits:   pacer,
		Lateness: hooks.lateness,
		Now:      time.Now, Log: log, Stats: &dispatch.Stats{},
	}
	processor := &replies.Processor{
		Store: store, Clinics: directory, Sender: sender, Steps: len(cfg.Offsets), AnswerAttempts: 5,
		StrangerAnswersPerHour: cfg.StrangerAnswersPerHour, Now: time.Now, Log: log, Stats: &replies.Stats{},
	}
	notifier := &escalation.Notifier{
		Store: store, Clinics: directory, Sender: sender, HTTP: egress.NewClient(egress.Options{Timeout: cfg.EscalationTimeout, AllowLoopback: cfg.EscalationAllowLoopback}),
		StatusCallback: statusCallback, RetryBase: cfg.EscalationRetryBase, RetryMax: cfg.EscalationRetryMax,
		GiveUpAfter: cfg.EscalationGiveUpAfter, NoticeLatency: hooks.noticeLatency, Now: time.Now, Log: log, Stats: &escalation.Stats{},
	}
	lifecycle := &escalation.Lifecycle{Store: store, Clinics: directory, Now: time.Now, Log: log}
	processor.Escalations, processor.Acks = lifecycle, lifecycle
	var mailer escalation.Mailer
	if cfg.SMTPHost != "" {
		mailer = email.New(email.Config{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			From: cfg.SMTPFrom, TLS: cfg.SMTPTLS, Timeout: cfg.SMTPTimeout})
	}
	caller, _ := sender.(escalation.Caller) // the twilio and console drivers both call
	chain := &escalation.Chain{
		Store: store, Clinics: directory, Sender: sender, Caller: caller, Mailer: mailer, StatusCallback: statusCallback,
		RetryBase: cfg.EscalationRetryBase, RetryMax: cfg.EscalationRetryMax, MaxAttempts: 10,
		PageLatency: hooks.pageLatency, Now: time.Now, Log: log, Stats: &escalation.ChainStats{},
	}
	conversations := &inbox.Store{S: store, Clinics: directory, Steps: len(cfg.Offsets)}
	staffReplies := &inbox.Sender{Store: conversations, SMS: sender, Pacer: pacer, StatusCallback: statusCallback, Now: time.Now, Log: log}
	recorder := &delivery.Recorder{Store: store, StaffReplies: conversations, Now: time.Now, Log: log, Stats: &delivery.Stats{}}
	deleter, _ := sender.(erasure.MessageDeleter) // the twilio driver; the console keeps no logs
	twilioEraser := &erasure.TwilioEraser{Deleter: deleter, Log: log}
	workerMetrics(reg, dispatcher.Stats, processor.Stats, notifier.Stats, recorder.Stats, consumers)
	chainMetrics(reg, chain.Stats)
	deadLetter := func(kind string) jobs.DeadLetterFunc {
		return func(ctx context.Context, msg jetstream.Msg, reason string) error {
			return store.DeadLetter(ctx, kind, strings.TrimPrefix(msg.Subject(), kind+"."), msg.Data(), reason)
		}
	}
	jobTimeout := cfg.JobTimeout()
	runners, slots := senderLanes(consumers.lanes, cfg, dispatcher, store)
	// Busy send slots say whether more workers would help: a clinic's
	// backlog paced by its own sender fills its lane, not the slots.
	metrics.Gauges(reg, "sender_slots_busy", "Due texts in hand (WORKER_CONCURRENCY bounds them); scale out when near aftercare_sender_slots.", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(int64(len(slots)))}
	})
	metrics.Gauges(reg, "sender_slots", "WORKER_CONCURRENCY: due texts this worker may have in hand at once.", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(int64(cap(slots)))}
	})
	runners = append(runners, []*jobs.Runner{{
		// Replies and escalations come first for the clinic: they have
		// their own consumers, so a backlog of tips never delays them.
		Name: natsjs.ConsumerReplies, Consumer: consumers.replies, Concurrency: 8,
		Handle: processor.Handle, DeadLetter: processor.DeadLetter,
	}, {
		Name: natsjs.ConsumerNotify, Consumer: consumers.notify, Concurrency: 8,
		Handle: notifier.Handle, DeadLetter: notifier.DeadLetter,
	}, {
		Name: natsjs.ConsumerChain, Consumer: consumers.chain, Concurrency: 4,
		Handle: chain.Handle, DeadLetter: chain.DeadLetter,
	}, {
		Name: natsjs.ConsumerStatus, Consumer: consumers.delivery, Concurrency: 4,
		Handle: recorder.Handle, DeadLetter: deadLetter("delivery"),
	}, {
		// Staff replies from the inbox: the clinic is talking to a client.
		Name: natsjs.ConsumerOutbox, Consumer: consumers.outbox, Concurrency: 4,
		Handle: staffReplies.Handle, DeadLetter: deadLetter("outbox"),
		Defer: func(ctx context.Context, msg jetstream.Msg, until time.Time) error {
			ctx, cancel := context.WithTimeout(ctx, deferWait)
			defer cancel()
			return conversations.Defer(ctx, msg, until)
		},
		DeferAfter: laneDeferAfter,
	}, {
		// A clinic with erase_at_twilio: an erased client's texts go from
		// Twilio's logs too. Only the worker holds Twilio's credentials.
		Name: natsjs.ConsumerTwilioErase, Consumer: consumers.twilioErase, Concurrency: 1,
		Handle: twilioEraser.Handle, DeadLetter: deadLetter("erasure"),
	}}...)
	var stops []func(context.Context) error
	for _, r := range runners {
		r.JobTimeout, r.UnexpectedDelay, r.Log = jobTimeout, 2*time.Second, log
		// A record that cannot be decoded never will be: dead-letter the job.
		r.Hopeless = []error{natsjs.ErrCorrupt}
		stops = append(stops, r.Start())
	}
	stopRunners := func(ctx context.Context) error {
		var errs []error
		for _, stop := range stops {
			errs = append(errs, stop(ctx))
		}
		return errors.Join(errs...)
	}
	defer func() { _ = stopRunners(context.Background()) }()

	if cfg.TwilioAuthToken == "" {
		log.Warn("TWILIO_AUTH_TOKEN is not set: Twilio webhooks (replies, delivery statuses) will be refused")
	}
	inboundSpool, err := spool.Open(cfg.InboundSpoolDir)
	if err != nil {
		return fmt.Errorf("INBOUND_SPOOL_DIR: %w", err)
	}
	metrics.Gauges(reg, "inbound_spooled", "Clients' texts kept on this worker's disk until JetStream takes writes again.", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(int64(inboundSpool.Len()))}
	})
	api := &httpapi.WorkerAPI{
		Verifier: twilio.NewWebhookVerifier(cfg.TwilioAuthToken, cfg.PublicBaseURL),
		Store:    store, Clinics: directory, Now: time.Now, Log: log, Metrics: metrics.Handler(reg),
		Spool: inboundSpool, StoreWait: cfg.InboundStoreWait,
		// Ready means able to take Twilio's webhooks. With the spool that
		// holds while JetStream elects a leader or is away, and the pod
		// must stay in the Service then, or the ingress turns Twilio away.
		// NATS trouble shows in the logs and in /metrics.
		Ready: func() error { return nil },
		// But NATS away for longer than NATS_DOWN_LIVENESS fails the
		// liveness probe: a restart may be what brings it back.
		Live: func() error { return conn.Live(time.Now(), cfg.NATS.DownLiveness) },
	}
	drainCtx, stopDrain := context.WithCancel(context.Background())
	drained := make(chan struct{})
	go func() { defer close(drained); api.DrainSpool(drainCtx, time.Second) }()
	defer func() {
		stopDrain()
		<-drained
		api.DrainSpool(drainCtx, 0) // one last pass before NATS closes
		if n := inboundSpool.Len(); n > 0 {
			log.Error("stopping with clients' texts still in the spool; a worker started on the same INBOUND_SPOOL_DIR stores them", "waiting", n)
		}
	}()
	if prof, err := httpapi.ListenPprof(cfg.PprofAddr, log); err != nil {
		return err
	} else if prof != nil {
		defer func() { _ = prof.Stop(context.Background()) }()
	}
	server, err := httpapi.Listen(cfg.HTTPAddr, httpapi.WorkerRoutes(api), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "worker listening on http://%s (sms driver: %s)\n", server.Addr(), cfg.SMSDriver)
	log.Info("worker started", "http", server.Addr(), "driver", cfg.SMSDriver, "concurrency", cfg.Concurrency, "rate_per_sender", cfg.SendRate)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-server.Failed():
	case err := <-conn.Lost():
		// Exit non-zero to be started afresh; texts in the spool wait on
		// INBOUND_SPOOL_DIR for the next worker.
		serveErr = fmt.Errorf("nats connection closed for good (%w); stopping, to be restarted with a new connection", err)
	}
	// Stop pulling, finish or hand back the jobs in hand, then close NATS.
	log.Info("worker stopping")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelShutdown()
	if err := stopRunners(shutdownCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	if err := server.Stop(shutdownCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	log.Info("worker stopped", "sent", dispatcher.Stats.Sent.Load(), "dead_lettered", dispatcher.Stats.DeadLettered.Load(),
		"replies", processor.Stats.Replies.Load(), "escalations", processor.Stats.Escalations.Load(), "clinics_notified", notifier.Stats.Notified.Load())
	return serveErr
}

type workerConsumers struct {
	lanes                     []jetstream.Consumer // one per clinic
	replies, notify, delivery jetstream.Consumer
	chain                     jetstream.Consumer
	outbox                    jetstream.Consumer // staff replies from the inbox
	twilioErase               jetstream.Consumer // erased clients' messages to delete at Twilio
}

func (c workerConsumers) all() []jetstream.Consumer {
	return append([]jetstream.Consumer{c.replies, c.notify, c.chain, c.delivery, c.outbox, c.twilioErase}, c.lanes...)
}

func openConsumers(ctx context.Context, conn *natsjs.Conn, cfg config.Worker, clinics []string) (workerConsumers, error) {
	var c workerConsumers
	for _, clinic := range clinics {
		lane, err := natsjs.SenderLane(ctx, conn.JS, clinic, cfg.AckWait, laneInHand(cfg))
		if err != nil {
			return c, err
		}
		c.lanes = append(c.lanes, lane)
	}
	if err := natsjs.RemoveSharedSender(ctx, conn.JS); err != nil {
		return c, err
	}
	var err error
	if c.replies, err = natsjs.RepliesConsumer(ctx, conn.JS, cfg.AckWait, 64); err != nil {
		return c, err
	}
	if c.notify, err = natsjs.NotifyConsumer(ctx, conn.JS, cfg.AckWait, 64); err != nil {
		return c, err
	}
	if c.chain, err = natsjs.ChainConsumer(ctx, conn.JS, cfg.AckWait, 64); err != nil {
		return c, err
	}
	if c.delivery, err = natsjs.DeliveryConsumer(ctx, conn.JS, cfg.AckWait, 256); err != nil {
		return c, err
	}
	if c.outbox, err = natsjs.OutboxConsumer(ctx, conn.JS, cfg.AckWait, 64); err != nil {
		return c, err
	}
	c.twilioErase, err = natsjs.TwilioEraseConsumer(ctx, conn.JS, cfg.AckWait, 8)
	return c, err
}

// laneInHand is how many of one clinic's due texts all workers together
// hold at once: what its sender may send while a text waits for its slot,
// plus its burst. More would only wait in hand; the rest wait in the
// stream, where they hold nobody up.
func laneInHand(cfg config.Worker) int {
	n := int(math.Ceil(cfg.SendRate*dispatch.MaxRateWait.Seconds())) + cfg.SendBurst
	return min(max(n, 2), 4*cfg.Concurrency)
}

// senderLanes runs a clinic's lane each, sharing the worker's concurrency.
// A job that must wait longer than a few seconds (a closed send window, a
// retry's backoff) leaves its lane and comes back on a timer.
func senderLanes(lanes []jetstream.Consumer, cfg config.Worker, d *dispatch.Dispatcher, store *natsjs.Store) ([]*jobs.Runner, chan struct{}) {
	slots := make(chan struct{}, cfg.Concurrency)
	deferJob := func(ctx context.Context, msg jetstream.Msg, until time.Time) error {
		var job aftercare.DueFollowUp
		if err := json.Unmarshal(msg.Data(), &job); err != nil {
			return err
		}
		// A job waits for a retry's backoff, among others: its record may
		// have been touched, so the deferred job reads it, and the session
		// with it.
		job.PlannedRevision, job.Client, job.Service = 0, nil, ""
		// Bounded: while the stream elects a leader, handing the job back
		// at once beats waiting out the job's deadline for a timer.
		ctx, cancel := context.WithTimeout(ctx, deferWait)
		defer cancel()
		return store.Defer(ctx, job, until)
	}
	var runners []*jobs.Runner
	for _, lane := range lanes {
		runners = append(runners, &jobs.Runner{
			Name: lane.CachedInfo().Name, Consumer: lane, Concurrency: min(laneInHand(cfg), cfg.Concurrency), Slots: slots,
			Handle: d.Handle, DeadLetter: d.DeadLetter, Defer: deferJob, DeferAfter: laneDeferAfter,
		})
	}
	return runners, slots
}

// laneDeferAfter: a job told to wait this long or more leaves its lane.
// Shorter waits (a rate slot a second or two away, a claim conflict) are
// cheaper handed back than put on a timer.
const laneDeferAfter = 5 * time.Second

// deferWait bounds putting a job on a timer; past it, the job is handed
// back to its lane with a delay instead.
const deferWait = time.Second

func isConflict(err error) bool { return errors.Is(err, natsjs.ErrConflict) }
