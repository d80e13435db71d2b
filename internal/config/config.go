// Package config reads each program's settings from the environment, and the
// clinics from their file, once at start, and validates them as a whole.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/plan"
)

// NATS is how a program reaches JetStream.
type NATS struct {
	URL       string `env:"NATS_URL"`        // empty: run an embedded nats-server
	CredsFile string `env:"NATS_CREDS_FILE"` // .creds file (JWT + nkey)
	// NKeySeedFile holds an nkey user's seed, such as the client.nk an
	// embedded server writes in its directory for the other programs.
	NKeySeedFile string `env:"NATS_NKEY_SEED_FILE"`
	TLSCA        string `env:"NATS_TLS_CA"`   // CA bundle to verify the server
	TLSCert      string `env:"NATS_TLS_CERT"` // client certificate for mutual TLS
	TLSKey       string `env:"NATS_TLS_KEY"`
	// InboxPrefix starts the subjects this program's replies (JetStream
	// API answers, acks, consumer deliveries) come back on. Each program
	// gets its own, so NATS permissions can let it read only its own
	// replies and no one else's (docs/production-nats.md).
	InboxPrefix string `env:"NATS_INBOX_PREFIX" envDefault:"_INBOX"`
	// Replicas of each stream and bucket: 1 for one server, 3 in a cluster.
	// Unset (0) keeps what exists and creates new ones at 1; start-up never
	// lowers a count (a one-off command run without it cannot shrink R3).
	Replicas int `env:"NATS_REPLICAS"`
	// Retention of follow-up jobs and session records; must outlast the
	// longest offset plus the send window's longest closure.
	Retention time.Duration `env:"NATS_RETENTION" envDefault:"720h"`
	// EscalationRetention keeps escalation records (what the client
	// reported, who was told, who acted): part of the clinical record, kept
	// as long as one, eight years by default (CSP record keeping).
	EscalationRetention time.Duration `env:"NATS_ESCALATION_RETENTION" envDefault:"70080h"`

	EmbeddedDir    string `env:"NATS_EMBEDDED_DIR" envDefault:"data/nats"`
	EmbeddedListen string `env:"NATS_EMBEDDED_LISTEN" envDefault:"127.0.0.1:4222"` // "none": in-process only
	// EmbeddedSync is "always" (fsync before every acknowledgement) or a
	// duration between background fsyncs, such as "2m" (JetStream's default).
	EmbeddedSync string `env:"NATS_EMBEDDED_SYNC" envDefault:"always"`
	// The embedded server's own certificate: required to listen anywhere
	// but loopback, where its traffic (phones, tokens) crosses a network.
	EmbeddedTLSCert string `env:"NATS_EMBEDDED_TLS_CERT"`
	EmbeddedTLSKey  string `env:"NATS_EMBEDDED_TLS_KEY"`

	// DownLiveness is how long NATS may stay unreachable before /healthz
	// fails, so the orchestrator restarts a program that cannot recover.
	DownLiveness time.Duration `env:"NATS_DOWN_LIVENESS" envDefault:"2m"`
}

// Common is what both programs read.
type Common struct {
	HTTPAddr    string `env:"HTTP_ADDR"`
	ClinicsFile string `env:"CLINICS_FILE" envDefault:"config/clinics.example.json"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat   string `env:"LOG_FORMAT" envDefault:"json"`
	// Offsets of the follow-ups after a session ends, comma-separated.
	Offsets []time.Duration `env:"FOLLOWUP_OFFSETS" envDefault:"24h,48h,72h"`
	// Staleness: a follow-up later than this is skipped, not sent.
	Staleness time.Duration `env:"FOLLOWUP_STALENESS" envDefault:"12h"`
	// BackdateGrace: a step due longer than this before its session event
	// arrived is skipped, not sent at once.
	BackdateGrace   time.Duration `env:"FOLLOWUP_BACKDATE_GRACE" envDefault:"15m"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"25s"`
	// PprofAddr, if set, serves Go's /debug/pprof there, for profiling a
	// load run. Keep it on loopback: profiles show what the process holds.
	PprofAddr string `env:"PPROF_ADDR"`
	// AllowAnySendWindow accepts send windows outside the calling hours
	// (08:00-21:00, or the clinic's region's), such as "* * * * *", for
	// local runs and tests whose offsets are seconds. Never in production.
	AllowAnySendWindow bool `env:"ALLOW_ANY_SEND_WINDOW" envDefault:"false"`
	NATS               NATS
}

// Scheduler is the intake and planning program's configuration.
type Scheduler struct {
	Common
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES" envDefault:"65536"`
	// ReconcileSchedule is a robfig/cron spec for the job that re-fires
	// follow-ups whose timer went missing.
	ReconcileSchedule string        `env:"RECONCILE_SCHEDULE" envDefault:"@every 5m"`
	ReconcileGrace    time.Duration `env:"RECONCILE_GRACE" envDefault:"10m"`
	// RetentionSchedule is a robfig/cron spec for the job that deletes a
	// clinic's records past its own retention (a clinic's "retention");
	// RetentionMaxPerRun bounds what one run deletes, per kind, so a
	// clinic that shortens its retention is caught up over several runs.
	RetentionSchedule  string `env:"RETENTION_SCHEDULE" envDefault:"@every 1h"`
	RetentionMaxPerRun int    `env:"RETENTION_MAX_PER_RUN" envDefault:"200"`
	// PlannerConcurrency is how many session events are applied at once;
	// each waits on a dozen round trips to JetStream, so more than cores.
	PlannerConcurrency int `env:"PLANNER_CONCURRENCY" envDefault:"32"`
	// Daily quotas of texts, counted at intake; a clinic's own "quota" in
	// the clinics file overrides them.
	QuotaPerClinic    int `env:"QUOTA_TEXTS_PER_CLINIC_PER_DAY" envDefault:"5000"`
	QuotaPerRecipient int `env:"QUOTA_TEXTS_PER_RECIPIENT_PER_DAY" envDefault:"6"`
	// Frequency caps on the tips one client gets from a clinic, across all
	// their sessions (the FCC's healthcare exemption: one a day, three a
	// week); 0 turns a cap off, for tests whose texts come seconds apart.
	// A clinic's "frequency_cap" overrides them.
	CapPerDay  int `env:"FREQUENCY_CAP_PER_DAY" envDefault:"1"`
	CapPerWeek int `env:"FREQUENCY_CAP_PER_WEEK" envDefault:"3"`
	// BookingAPIAllowLoopback lets calls to booking systems' APIs (a
	// clinic's api_base_url) reach loopback, for local runs and tests;
	// other internal addresses stay refused either way.
	BookingAPIAllowLoopback bool `env:"BOOKING_API_ALLOW_LOOPBACK" envDefault:"false"`
	// Staff logins: failed attempts allowed per hour, per account and per
	// client address, counted in JetStream and shared by every replica.
	LoginAttemptsPerAccount int `env:"LOGIN_ATTEMPTS_PER_ACCOUNT_PER_HOUR" envDefault:"10"`
	LoginAttemptsPerAddress int `env:"LOGIN_ATTEMPTS_PER_ADDRESS_PER_HOUR" envDefault:"50"`
	// InboxCookieSecure marks the inbox's session cookie Secure: on
	// wherever it is served over TLS (behind the Ingress); off only for a
	// local run on plain http.
	InboxCookieSecure bool `env:"INBOX_COOKIE_SECURE" envDefault:"true"`
	// TrustForwardedFor takes a login's address from the last
	// X-Forwarded-For entry, which the Ingress sets; without it every login
	// would share the Ingress's address. Only behind a proxy that sets it.
	TrustForwardedFor bool `env:"TRUST_FORWARDED_FOR" envDefault:"false"`
	// DemoStaff creates a demo clinic admin for the first clinic on start,
	// when it has no staff, and prints its login: scripts/run-local only.
	DemoStaff bool `env:"DEMO_STAFF" envDefault:"false"`
}

// Worker is the SMS program's configuration.
type Worker struct {
	Common
	// SMSDriver is "twilio" or "console"; empty picks twilio when Twilio
	// credentials are set, console otherwise.
	SMSDriver        string `env:"SMS_DRIVER"`
	TwilioAccountSID string `env:"TWILIO_ACCOUNT_SID"`
	TwilioAuthToken  string `env:"TWILIO_AUTH_TOKEN"`
	// An API key, when set, sends instead of the auth token, so the sending
	// credential can be revoked on its own; the auth token still checks the
	// signatures of Twilio's webhooks, which only it can.
	TwilioAPIKeySID    string        `env:"TWILIO_API_KEY_SID"`
	TwilioAPIKeySecret string        `env:"TWILIO_API_KEY_SECRET"`
	TwilioBaseURL      string        `env:"TWILIO_API_BASE_URL" envDefault:"https://api.twilio.com"`
	TwilioTimeout      time.Duration `env:"TWILIO_TIMEOUT" envDefault:"10s"`
	// PublicBaseURL is the URL Twilio reaches this worker at: the base of
	// the status-callback URL, and of the URL webhook signatures cover.
	PublicBaseURL string `env:"PUBLIC_BASE_URL"`

	// Escalation notices: the clinic's webhook is retried with backoff from
	// the base delay up to the max, for up to ESCALATION_GIVE_UP_AFTER.
	EscalationTimeout     time.Duration `env:"ESCALATION_WEBHOOK_TIMEOUT" envDefault:"10s"`
	EscalationRetryBase   time.Duration `env:"ESCALATION_RETRY_BASE_DELAY" envDefault:"1s"`
	EscalationRetryMax    time.Duration `env:"ESCALATION_RETRY_MAX_DELAY" envDefault:"30s"`
	EscalationGiveUpAfter time.Duration `env:"ESCALATION_GIVE_UP_AFTER" envDefault:"24h"`
	// EscalationAllowLoopback lets escalation webhooks reach loopback
	// addresses, for local runs and tests; private, link-local and other
	// internal addresses stay refused either way.
	EscalationAllowLoopback bool `env:"ESCALATION_WEBHOOK_ALLOW_LOOPBACK" envDefault:"false"`

	// SMTP sends the emails of escalation chain steps with "email": true
	// and reminders; required when any clinic's chain emails.
	SMTPHost     string        `env:"SMTP_HOST"`
	SMTPPort     int           `env:"SMTP_PORT" envDefault:"587"`
	SMTPUsername string        `env:"SMTP_USERNAME"`
	SMTPPassword string        `env:"SMTP_PASSWORD"`
	SMTPFrom     string        `env:"SMTP_FROM"`
	SMTPTLS      string        `env:"SMTP_TLS" envDefault:"starttls"` // starttls, tls or none (loopback only)
	SMTPTimeout  time.Duration `env:"SMTP_TIMEOUT" envDefault:"10s"`

	// StrangerAnswersPerHour caps a clinic's answers to numbers with no
	// session there, per hour, across every worker (SMS pumping).
	StrangerAnswersPerHour int `env:"STRANGER_ANSWERS_PER_HOUR" envDefault:"20"`

	Concurrency    int           `env:"WORKER_CONCURRENCY" envDefault:"16"`
	SendRate       float64       `env:"SEND_RATE_PER_SENDER" envDefault:"1"` // messages per second
	SendBurst      int           `env:"SEND_BURST" envDefault:"1"`
	MaxAttempts    int           `env:"SEND_MAX_ATTEMPTS" envDefault:"8"`
	RetryBaseDelay time.Duration `env:"SEND_RETRY_BASE_DELAY" envDefault:"15s"`
	RetryMaxDelay  time.Duration `env:"SEND_RETRY_MAX_DELAY" envDefault:"30m"`
	AckWait        time.Duration `env:"WORKER_ACK_WAIT" envDefault:"60s"`

	// A client's text that JetStream cannot store within InboundStoreWait
	// (a stream electing a leader) is kept in InboundSpoolDir until it can.
	InboundStoreWait time.Duration `env:"INBOUND_STORE_WAIT" envDefault:"3s"`
	InboundSpoolDir  string        `env:"INBOUND_SPOOL_DIR" envDefault:"data/spool"`
}

// JobTimeout bounds one job's handling; the rest of AckWait is left to
// acknowledge it, so a job is never redelivered while still in hand.
func (c Worker) JobTimeout() time.Duration {
	return c.AckWait - min(max(c.AckWait/10, 500*time.Millisecond), 5*time.Second)
}

// Drivers.
const (
	DriverTwilio  = "twilio"
	DriverConsole = "console"
)

// LoadScheduler reads and validates the scheduler's configuration.
func LoadScheduler(getenv func(string) string) (Scheduler, []aftercare.Clinic, error) {
	cfg := Scheduler{}
	if err := parse(&cfg, getenv); err != nil {
		return cfg, nil, err
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8080"
	}
	var errs []error
	errs = append(errs, cfg.Common.validate()...)
	if cfg.MaxBodyBytes < 1024 || cfg.MaxBodyBytes > 10<<20 {
		errs = append(errs, fmt.Errorf("MAX_BODY_BYTES: %d is outside 1024..10485760", cfg.MaxBodyBytes))
	}
	if cfg.PlannerConcurrency < 1 || cfg.PlannerConcurrency > 512 {
		errs = append(errs, fmt.Errorf("PLANNER_CONCURRENCY: %d must be from 1 to 512 (the planner consumer's MaxAckPending)", cfg.PlannerConcurrency))
	}
	if cfg.ReconcileGrace <= 0 {
		errs = append(errs, errors.New("RECONCILE_GRACE: must be positive"))
	}
	if cfg.QuotaPerClinic < 1 || cfg.QuotaPerRecipient < 1 {
		errs = append(errs, errors.New("QUOTA_TEXTS_PER_CLINIC_PER_DAY, QUOTA_TEXTS_PER_RECIPIENT_PER_DAY: must be at least 1"))
	}
	if cfg.LoginAttemptsPerAccount < 1 || cfg.LoginAttemptsPerAddress < 1 {
		errs = append(errs, errors.New("LOGIN_ATTEMPTS_PER_ACCOUNT_PER_HOUR, LOGIN_ATTEMPTS_PER_ADDRESS_PER_HOUR: must be at least 1"))
	}
	if cfg.DemoStaff && cfg.NATS.URL != "" {
		errs = append(errs, errors.New("DEMO_STAFF: only for a local run on the embedded nats-server (NATS_URL unset)"))
	}
	if cfg.CapPerDay < 0 || cfg.CapPerWeek < 0 || (cfg.CapPerDay > 0 && cfg.CapPerWeek > 0 && cfg.CapPerWeek < cfg.CapPerDay) {
		errs = append(errs, errors.New("FREQUENCY_CAP_PER_DAY, FREQUENCY_CAP_PER_WEEK: want 0 (off) or positive, the week's at least the day's"))
	}
	if cfg.RetentionMaxPerRun < 1 {
		errs = append(errs, errors.New("RETENTION_MAX_PER_RUN: must be at least 1"))
	}
	clinics, err := loadClinics(cfg.ClinicsFile, getenv, clinicRules{needIntake: true, anyWindow: cfg.AllowAnySendWindow})
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range clinics {
		errs = append(errs, cfg.Common.retentionProblems(c)...)
	}
	return cfg, clinics, errors.Join(errs...)
}

// retentionProblems: a clinic's retention can only shorten the service's,
// as the streams and buckets drop every clinic's records at NATS_RETENTION
// and NATS_ESCALATION_RETENTION whatever a clinic says; and its texts must
// outlast its last tip.
func (c Common) retentionProblems(cl aftercare.Clinic) []error {
	r, n := cl.Retention, c.NATS
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("clinic %s: "+format, append([]any{cl.ID}, args...)...))
	}
	if r.TextsFor > n.Retention {
		fail("retention.texts %v is longer than NATS_RETENTION (%v), which removes every clinic's texts first", r.TextsFor, n.Retention)
	}
	if r.TextsFor > 0 && len(c.Offsets) > 0 && r.TextsFor < c.Offsets[len(c.Offsets)-1]+7*24*time.Hour {
		fail("retention.texts %v must exceed the last follow-up offset by at least 7 days, or a client's records go before their last tip", r.TextsFor)
	}
	if r.EscalationsFor > n.EscalationRetention {
		fail("retention.escalations %v is longer than NATS_ESCALATION_RETENTION (%v), which removes every clinic's escalations first", r.EscalationsFor, n.EscalationRetention)
	}
	if r.DeadLettersFor > n.Retention {
		fail("retention.dead_letters %v is longer than NATS_RETENTION (%v), which removes every clinic's dead letters first", r.DeadLettersFor, n.Retention)
	}
	return errs
}

// LoadWorker reads and validates the worker's configuration.
func LoadWorker(getenv func(string) string) (Worker, []aftercare.Clinic, error) {
	cfg := Worker{}
	if err := parse(&cfg, getenv); err != nil {
		return cfg, nil, err
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8081"
	}
	var errs []error
	errs = append(errs, cfg.Common.validate()...)
	hasTwilio := cfg.TwilioAccountSID != "" || cfg.TwilioAuthToken != ""
	switch cfg.SMSDriver {
	case "":
		cfg.SMSDriver = DriverConsole
		if hasTwilio {
			cfg.SMSDriver = DriverTwilio
		}
	case DriverTwilio, DriverConsole:
	default:
		errs = append(errs, fmt.Errorf("SMS_DRIVER: %q is not twilio or console", cfg.SMSDriver))
	}
	if cfg.SMSDriver == DriverTwilio {
		if cfg.TwilioAccountSID == "" || cfg.TwilioAuthToken == "" {
			errs = append(errs, errors.New("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: both are required by the twilio driver"))
		} else if !alphanumeric(cfg.TwilioAccountSID) || !alphanumeric(cfg.TwilioAuthToken) {
			errs = append(errs, errors.New("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: must be letters and digits only"))
		}
		errs = append(errs, cfg.checkAPIKey()...)
		if _, err := checkURL(cfg.TwilioBaseURL); err != nil {
			errs = append(errs, fmt.Errorf("TWILIO_API_BASE_URL: %w", err))
		}
	}
	if cfg.PublicBaseURL != "" {
		if _, err := checkURL(cfg.PublicBaseURL); err != nil {
			errs = append(errs, fmt.Errorf("PUBLIC_BASE_URL: %w", err))
		}
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("WORKER_CONCURRENCY: %d is outside 1..1024", cfg.Concurrency))
	}
	if cfg.SendRate <= 0 {
		errs = append(errs, fmt.Errorf("SEND_RATE_PER_SENDER: %v must be positive", cfg.SendRate))
	}
	if cfg.SendBurst < 1 {
		errs = append(errs, fmt.Errorf("SEND_BURST: %d must be at least 1", cfg.SendBurst))
	}
	if cfg.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("SEND_MAX_ATTEMPTS: %d must be at least 1", cfg.MaxAttempts))
	}
	if cfg.RetryBaseDelay <= 0 || cfg.RetryMaxDelay < cfg.RetryBaseDelay {
		errs = append(errs, errors.New("SEND_RETRY_BASE_DELAY, SEND_RETRY_MAX_DELAY: want 0 < base <= max"))
	}
	if cfg.AckWait < 5*time.Second {
		errs = append(errs, errors.New("WORKER_ACK_WAIT: must be at least 5s"))
	}
	// Twilio gives an inbound webhook 15 s to answer.
	if cfg.InboundStoreWait <= 0 || cfg.InboundStoreWait > 10*time.Second {
		errs = append(errs, fmt.Errorf("INBOUND_STORE_WAIT: %v is outside (0, 10s]: Twilio waits 15 s for an answer", cfg.InboundStoreWait))
	}
	if cfg.InboundSpoolDir == "" {
		errs = append(errs, errors.New("INBOUND_SPOOL_DIR: required"))
	}
	// A job that outlives its deadline gives up on a Twilio call that may
	// yet succeed: a text sent but never recorded. So the calls a job makes
	// (a notice makes a webhook call and a Twilio call) fit within it.
	if cfg.TwilioTimeout <= 0 || cfg.TwilioTimeout >= cfg.JobTimeout() {
		errs = append(errs, fmt.Errorf("TWILIO_TIMEOUT: must be positive and shorter than a job's time, %v (WORKER_ACK_WAIT less a margin to acknowledge)", cfg.JobTimeout()))
	}
	if cfg.EscalationTimeout <= 0 || cfg.EscalationTimeout+cfg.TwilioTimeout >= cfg.JobTimeout() {
		errs = append(errs, fmt.Errorf("ESCALATION_WEBHOOK_TIMEOUT: must be positive, and with TWILIO_TIMEOUT shorter than a job's time, %v (WORKER_ACK_WAIT less a margin to acknowledge)", cfg.JobTimeout()))
	}
	if cfg.EscalationRetryBase <= 0 || cfg.EscalationRetryMax < cfg.EscalationRetryBase {
		errs = append(errs, errors.New("ESCALATION_RETRY_BASE_DELAY, ESCALATION_RETRY_MAX_DELAY: want 0 < base <= max"))
	}
	// Each hour's counter lists the replies that took a place in it.
	if cfg.StrangerAnswersPerHour < 0 || cfg.StrangerAnswersPerHour > 1000 {
		errs = append(errs, fmt.Errorf("STRANGER_ANSWERS_PER_HOUR: %d is outside 0..1000", cfg.StrangerAnswersPerHour))
	}
	if cfg.EscalationGiveUpAfter < time.Minute {
		errs = append(errs, errors.New("ESCALATION_GIVE_UP_AFTER: must be at least 1m"))
	}
	clinics, err := loadClinics(cfg.ClinicsFile, getenv, clinicRules{anyWindow: cfg.AllowAnySendWindow})
	if err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, cfg.checkSMTP(clinics)...)
	return cfg, clinics, errors.Join(errs...)
}

// checkSMTP requires a mail server when a clinic's chain emails, and keeps
// plain SMTP to loopback: the mails name a clinic and an escalation.
func (cfg Worker) checkSMTP(clinics []aftercare.Clinic) []error {
	var errs []error
	for _, c := range clinics {
		for _, step := range c.Escalation.Chain {
			if step.Email && cfg.SMTPHost == "" {
				errs = append(errs, fmt.Errorf("SMTP_HOST: clinic %q's escalation chain emails; set SMTP_HOST, SMTP_FROM (and SMTP_USERNAME, SMTP_PASSWORD)", c.ID))
				return errs
			}
		}
	}
	if cfg.SMTPHost == "" {
		return nil
	}
	if _, err := mail.ParseAddress(cfg.SMTPFrom); err != nil {
		errs = append(errs, fmt.Errorf("SMTP_FROM: %q is not an email address", cfg.SMTPFrom))
	}
	if cfg.SMTPPort < 1 || cfg.SMTPPort > 65535 {
		errs = append(errs, fmt.Errorf("SMTP_PORT: %d is not a port", cfg.SMTPPort))
	}
	switch cfg.SMTPTLS {
	case "starttls", "tls":
	case "none":
		if !loopback(cfg.SMTPHost) {
			errs = append(errs, fmt.Errorf("SMTP_TLS: none is allowed only for a relay on loopback, not %q", cfg.SMTPHost))
		}
	default:
		errs = append(errs, fmt.Errorf("SMTP_TLS: %q is not starttls, tls or none", cfg.SMTPTLS))
	}
	if cfg.SMTPTimeout <= 0 {
		errs = append(errs, errors.New("SMTP_TIMEOUT: must be positive"))
	}
	return errs
}

func (c *Common) validate() []error {
	var errs []error
	if len(c.Offsets) == 0 {
		errs = append(errs, errors.New("FOLLOWUP_OFFSETS: at least one offset is required"))
	}
	if len(c.Offsets) > 3 {
		errs = append(errs, fmt.Errorf("FOLLOWUP_OFFSETS: %d offsets given, but texts exist for 3 steps", len(c.Offsets)))
	}
	for i, o := range c.Offsets {
		if o <= 0 || (i > 0 && o <= c.Offsets[i-1]) {
			errs = append(errs, fmt.Errorf("FOLLOWUP_OFFSETS: want positive, increasing durations, got %v", c.Offsets))
			break
		}
	}
	if c.Staleness <= 0 {
		errs = append(errs, errors.New("FOLLOWUP_STALENESS: must be positive"))
	}
	if c.BackdateGrace < 0 {
		errs = append(errs, errors.New("FOLLOWUP_BACKDATE_GRACE: must not be negative"))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not json or text", c.LogFormat))
	}
	n := c.NATS
	if n.URL != "" {
		if _, err := url.Parse(n.URL); err != nil {
			// url.Error quotes the URL, and with it any password in it.
			var bad *url.Error
			if errors.As(err, &bad) {
				err = bad.Err
			}
			errs = append(errs, fmt.Errorf("NATS_URL: %w", err))
		}
	} else {
		if n.EmbeddedDir == "" {
			errs = append(errs, errors.New("NATS_EMBEDDED_DIR: required when NATS_URL is empty"))
		}
		if err := CheckEmbeddedListen(n.EmbeddedListen, n.EmbeddedTLSCert != ""); err != nil {
			errs = append(errs, err)
		}
	}
	if n.URL != "" && n.NKeySeedFile != "" && n.CredsFile != "" {
		errs = append(errs, errors.New("NATS_NKEY_SEED_FILE, NATS_CREDS_FILE: set one, not both"))
	}
	if err := checkInboxPrefix(n.InboxPrefix); err != nil {
		errs = append(errs, fmt.Errorf("NATS_INBOX_PREFIX: %w", err))
	}
	if (n.EmbeddedTLSCert == "") != (n.EmbeddedTLSKey == "") {
		errs = append(errs, errors.New("NATS_EMBEDDED_TLS_CERT, NATS_EMBEDDED_TLS_KEY: set both or neither"))
	}
	if n.DownLiveness <= 0 {
		errs = append(errs, errors.New("NATS_DOWN_LIVENESS: must be positive"))
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		errs = append(errs, errors.New("NATS_TLS_CERT, NATS_TLS_KEY: set both or neither"))
	}
	if n.Replicas != 0 && n.Replicas != 1 && n.Replicas != 3 && n.Replicas != 5 {
		errs = append(errs, fmt.Errorf("NATS_REPLICAS: %d is not 1, 3 or 5", n.Replicas))
	}
	if len(c.Offsets) > 0 && n.Retention < c.Offsets[len(c.Offsets)-1]+7*24*time.Hour {
		errs = append(errs, fmt.Errorf("NATS_RETENTION: %v must exceed the last offset by at least 7 days", n.Retention))
	}
	if n.EscalationRetention < MinEscalationRetention {
		errs = append(errs, fmt.Errorf("NATS_ESCALATION_RETENTION: %v is under a year: escalations are clinical records, and the bucket drops one this long after its last change, open or not", n.EscalationRetention))
	}
	if n.EscalationRetention < n.Retention {
		errs = append(errs, fmt.Errorf("NATS_ESCALATION_RETENTION: %v is shorter than NATS_RETENTION: escalations are clinical records, kept at least as long as the rest", n.EscalationRetention))
	}
	if _, err := EmbeddedSyncInterval(n.EmbeddedSync); err != nil {
		errs = append(errs, fmt.Errorf("NATS_EMBEDDED_SYNC: %w", err))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT: must be positive"))
	}
	return errs
}

// CheckEmbeddedListen refuses an embedded server listening beyond this
// machine without TLS: its clients' credentials and every record (phones,
// replies, clinics' tokens) would cross the network in clear.
func CheckEmbeddedListen(listen string, tls bool) error {
	if listen == "none" {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("NATS_EMBEDDED_LISTEN: %w", err)
	}
	if tls {
		return nil
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("NATS_EMBEDDED_LISTEN: %q is not a loopback address; listening beyond this machine needs NATS_EMBEDDED_TLS_CERT and NATS_EMBEDDED_TLS_KEY", listen)
	}
	return nil
}

// EmbeddedSyncInterval turns NATS_EMBEDDED_SYNC into an interval; zero means
// fsync on every write.
func EmbeddedSyncInterval(v string) (time.Duration, error) {
	if v == "always" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not \"always\" or a positive duration", v)
	}
	return d, nil
}

// Policy is the follow-up plan policy the configuration describes.
func (c Common) Policy() plan.Policy {
	return plan.Policy{Offsets: c.Offsets, Staleness: c.Staleness, Grace: c.BackdateGrace}
}

// Caps is the service's frequency caps on tips to one client.
func (c Scheduler) Caps() plan.Caps { return plan.Caps{PerDay: c.CapPerDay, PerWeek: c.CapPerWeek} }

// parse fills cfg from getenv; the environment is reached only through it.
func parse(cfg any, getenv func(string) string) error {
	params, err := env.GetFieldParams(cfg)
	if err != nil {
		return err
	}
	vars := map[string]string{}
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			vars[p.Key] = v
		}
	}
	err = env.ParseWithOptions(cfg, env.Options{Environment: vars})
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	// env names the struct field; say which variable held the bad value.
	keys := envKeys(reflect.TypeOf(cfg).Elem())
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && keys[pe.Name] != "" {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid %v: %w", keys[pe.Name], vars[keys[pe.Name]], pe.Type, pe.Err))
			continue
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// envKeys maps struct field names to their environment variable names.
func envKeys(t reflect.Type) map[string]string {
	keys := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
			maps.Copy(keys, envKeys(f.Type))
			continue
		}
		if key, _, _ := strings.Cut(f.Tag.Get("env"), ","); key != "" {
			keys[f.Name] = key
		}
	}
	return keys
}

func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return u, nil
}

func alphanumeric(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// checkAPIKey accepts no API key, or a whole one: an "SK" SID and its secret.
func (cfg Worker) checkAPIKey() []error {
	sid, secret := cfg.TwilioAPIKeySID, cfg.TwilioAPIKeySecret
	switch {
	case sid == "" && secret == "":
		return nil
	case sid == "" || secret == "":
		return []error{errors.New("TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET: set both, or neither to send with the auth token")}
	case !strings.HasPrefix(sid, "SK") || !alphanumeric(sid) || !alphanumeric(secret):
		return []error{errors.New("TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET: want an SK... key SID and its secret, letters and digits only")}
	}
	return nil
}

// checkInboxPrefix refuses a prefix nats.go would refuse at connect, or one
// that would make every inbox match a wider permission than meant.
func checkInboxPrefix(p string) error {
	switch {
	case p == "":
		return errors.New("must not be empty")
	case strings.ContainsAny(p, "*> \t\r\n"):
		return fmt.Errorf("%q holds a wildcard or a space", p)
	case strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, ".."):
		return fmt.Errorf("%q has an empty token", p)
	}
	return nil
}
