// Command faults is the fault suite: it runs nats-server, the scheduler and
// the worker as separate processes with a Twilio stand-in and a clinic's
// escalation webhook, puts them under a steady load of session events (whose
// follow-ups fall due 1, 2 and 3 s later) and red-flag replies, and injects
// one fault per scenario: kill -9 of the worker mid-send, of the scheduler
// mid-intake, of nats-server; Twilio answering 429, 500, 503, not at all or
// slowly; the clinic's webhook down. After each it checks that every
// acknowledged event has its plan, every follow-up was sent exactly once (a
// second copy is allowed only when Twilio accepted the text just before a
// kill, and is reported), and every escalation reached the clinic; and it
// scans every process's logs for secrets, client numbers and message text.
// It prints a table and exits non-zero on any loss.
//
//	go run ./cmd/faults            # the CI run, a few minutes
//	go run ./cmd/faults -soak      # 5 minutes of load per scenario, the webhook down for a minute
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/escalation/escalationtest"
	"github.com/aftercare/aftercare/internal/harness"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// The suite's clinic and its secrets (made up for the run).
const (
	clinicID      = "fault"
	clinicNumber  = "+447700900100"
	onCallPhone   = "+447700900199"
	intakeToken   = "faults-intake-token-0000000000001"
	webhookSecret = "faults-webhook-secret-00000000001"
	publicBaseURL = "https://aftercare.example"
)

const clinicsJSON = `{"clinics":[{"id":"fault","name":"Fault Clinic","time_zone":"Europe/London",
 "send_window":"* * * * *","locale":"en","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
 "intake_token_env":"FAULT_TOKEN",
 "escalation":{"on_call_phone":"+447700900199","webhook_url":"%s","webhook_secret_env":"FAULT_WEBHOOK_SECRET"}}]}`

type options struct {
	rate          int
	duration      time.Duration
	kills         int
	twilioOutage  time.Duration
	webhookOutage time.Duration
	settle        time.Duration
	only          string
	bin           string
	logs          string
}

// faultGap is when a fault comes: a quarter into the load, and as long
// again after a restart before the next kill.
func (o options) faultGap() time.Duration { return o.duration / 4 }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runSuite(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}

func runSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	var soak bool
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&soak, "soak", false, "the long run: 5 min of load at 100 events/s per scenario, 5 kills, 1 min outages")
	fs.IntVar(&o.rate, "rate", 40, "session events per second")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "how long the load runs in each scenario")
	fs.IntVar(&o.kills, "kills", 2, "kills per kill scenario")
	fs.DurationVar(&o.twilioOutage, "twilio-outage", 3*time.Second, "how long Twilio misbehaves")
	fs.DurationVar(&o.webhookOutage, "webhook-outage", time.Minute, "how long the clinic's webhook is down")
	fs.DurationVar(&o.settle, "settle", 90*time.Second, "how long to wait after the load for everything due to be done")
	fs.StringVar(&o.only, "only", "", "run only the scenarios whose name contains this")
	fs.StringVar(&o.logs, "logs", "", "write every process's logs into this directory, a subdirectory per scenario")
	fs.StringVar(&o.bin, "bin", "", "directory with prebuilt scheduler, worker and nats-server (default: build them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if soak {
		o.rate, o.duration, o.kills, o.twilioOutage, o.webhookOutage, o.settle = 100, 5*time.Minute, 5, time.Minute, time.Minute, 5*time.Minute
	}
	if o.rate < 1 || o.duration < 4*time.Second || o.kills < 1 {
		return errors.New("want -rate >= 1, -duration >= 4s, -kills >= 1")
	}
	dir, bin, err := harness.Workspace(ctx, "faults", o.bin, stderr)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.bin = bin

	table := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "scenario\tload\tfaults\tlost\tduplicated\tescalations reached\tlogs")
	var failures []string
	for n, sc := range scenarios {
		if !strings.Contains(sc.name, o.only) {
			continue
		}
		fmt.Fprintf(stderr, "faults: %s ...\n", sc.name)
		res, err := runScenario(ctx, o, sc, filepath.Join(dir, fmt.Sprint(n)))
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		v := res.verdict
		dups := fmt.Sprintf("%d", len(v.dupOther))
		if v.dupInWindow > 0 {
			dups += fmt.Sprintf(" (+%d in the accept-to-record window)", v.dupInWindow)
		}
		logs := "clean"
		if len(res.leaks) > 0 {
			logs = fmt.Sprintf("%d leaks", len(res.leaks))
		}
		fmt.Fprintf(table, "%s\t%d sessions, %d follow-ups, %d replies\t%s\t%d\t%s\t%d/%d\t%s\n",
			sc.name, v.sessions, v.followUps, v.escalations, res.faults, len(v.lost), dups, v.reached, v.escalations, logs)
		if !v.settled {
			failures = append(failures, sc.name+": not settled within -settle")
		}
		for _, list := range [][]string{v.lost, v.dupOther, v.missed, res.leaks} {
			for i, s := range list {
				if i == 5 {
					failures = append(failures, fmt.Sprintf("%s: ... and %d more", sc.name, len(list)-i))
					break
				}
				failures = append(failures, sc.name+": "+s)
			}
		}
	}
	table.Flush()
	if len(failures) > 0 {
		return fmt.Errorf("%d failures:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return nil
}

type scenarioResult struct {
	verdict verdict
	faults  string
	leaks   []string
}

func runScenario(ctx context.Context, o options, sc scenario, dir string) (scenarioResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return scenarioResult{}, err
	}
	clinic := escalationtest.NewReceiver(webhookSecret)
	defer clinic.Close()
	sys, err := harness.StartSystem(harness.Config{
		Bin: o.bin, Dir: dir, Fsync: "2m", Clinics: fmt.Sprintf(clinicsJSON, clinic.URL),
		Env: []string{
			"FAULT_TOKEN=" + intakeToken, "FAULT_WEBHOOK_SECRET=" + webhookSecret, "FOLLOWUP_OFFSETS=1s,2s,3s",
			"LOG_LEVEL=info", "SHUTDOWN_TIMEOUT=10s",
		},
		WorkerEnv: []string{
			"PUBLIC_BASE_URL=" + publicBaseURL, "SEND_RATE_PER_SENDER=1000", "SEND_BURST=100", "WORKER_ACK_WAIT=6s",
			"TWILIO_TIMEOUT=3s", "SEND_RETRY_BASE_DELAY=200ms", "SEND_RETRY_MAX_DELAY=2s", "SEND_MAX_ATTEMPTS=100",
			"ESCALATION_RETRY_BASE_DELAY=500ms", "ESCALATION_RETRY_MAX_DELAY=5s", "ESCALATION_WEBHOOK_TIMEOUT=2s",
		},
	})
	if err != nil {
		return scenarioResult{}, err
	}
	defer sys.Stop()

	nc, err := nats.Connect(sys.NATSURL, nats.MaxReconnects(-1))
	if err != nil {
		return scenarioResult{}, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	store, err := natsjs.Provision(ctx, js, natsjs.Settings{Replicas: 1, Retention: 720 * time.Hour})
	if err != nil {
		return scenarioResult{}, err
	}

	l := newLoad(o.rate, o.duration)
	l.scheduler.Store(&sys.Scheduler.Addr)
	l.worker.Store(&sys.Worker.Addr)
	r := &run{sys: sys, load: l, clinic: clinic, opts: o}
	loadCtx, cancel := context.WithTimeout(ctx, o.duration+o.settle)
	defer cancel()
	type injected struct {
		faults string
		err    error
	}
	done := make(chan injected, 1)
	go func() {
		faults, err := sc.inject(loadCtx, r)
		done <- injected{faults, err}
	}()
	l.run(loadCtx)
	inj := <-done
	if inj.err != nil {
		return scenarioResult{}, inj.err
	}

	// Wait until everything due is done (or the settle time is up), and a
	// moment more for a late duplicate.
	res := scenarioResult{faults: inj.faults}
	deadline := time.Now().Add(o.settle)
	settled := false
	for !settled && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Second)
		f, e, err := pending(ctx, store, l, clinic, sys.Twilio.Messages())
		settled = err == nil && f == 0 && e == 0
	}
	time.Sleep(time.Second)
	res.verdict, err = check(ctx, store, sys.Twilio.Messages(), l, clinic, r.recordingFaults)
	res.verdict.settled = settled
	if n := sys.Twilio.Lists(); n > 0 {
		// Sends that may have reached Twilio are looked up before a retry.
		res.faults += fmt.Sprintf("; %d look-ups before resending", n)
	}
	res.leaks = scanLogs(sys.AllProcs())
	if o.logs != "" {
		if err := saveLogs(filepath.Join(o.logs, strings.NewReplacer(" ", "-", "/", "-").Replace(sc.name)), sys.AllProcs()); err != nil {
			return res, err
		}
	}
	return res, err
}

// saveLogs writes each process's logs to dir/<name>-<n>.log.
func saveLogs(dir string, procs []*harness.Proc) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for n, p := range procs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.log", p.Name, n)), []byte(p.Logs()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
