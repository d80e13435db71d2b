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

// clinicsJSON's clinic puts the client's number on its on-call alerts
// (alert_details): the suite checks each escalation's alert by it.
const clinicsJSON = `{"clinics":[{"id":"fault","name":"Fault Clinic","time_zone":"Europe/London",
 "send_window":"* * * * *","locale":"en","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
 "intake_token_env":"FAULT_TOKEN","alert_details":true,
 "escalation":{"on_call_phone":"+447700900199","webhook_url":"%s","webhook_secret_env":"FAULT_WEBHOOK_SECRET"}}]}`

type options struct {
	nodes         int
	fsyncs        []string
	fsync         string // of the scenario being run
	runs          int
	down          time.Duration
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
	fs.IntVar(&o.nodes, "nodes", 1, "nats-servers: 1, or 3 for a JetStream cluster with every stream at R3 and the node faults")
	fsyncs := fs.String("fsync", "2m", "nats-server sync_interval values to run each scenario with, comma-separated: always, or an interval (2m is JetStream's default)")
	fs.IntVar(&o.runs, "runs", 1, "runs of each scenario (losses on a cluster depend on timing)")
	fs.DurationVar(&o.down, "down", 5*time.Second, "how long a killed nats-server node stays down (-nodes 3)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.fsyncs = strings.Split(*fsyncs, ",")
	if soak {
		o.rate, o.duration, o.kills, o.twilioOutage, o.webhookOutage, o.settle = 100, 5*time.Minute, 5, time.Minute, time.Minute, 5*time.Minute
	}
	if o.rate < 1 || o.duration < 4*time.Second || o.kills < 1 || o.runs < 1 || (o.nodes != 1 && o.nodes != 3) {
		return errors.New("want -rate >= 1, -duration >= 4s, -kills >= 1, -runs >= 1, -nodes 1 or 3")
	}
	list := scenarios
	if o.nodes > 1 {
		list = clusterScenarios
	}
	dir, bin, err := harness.Workspace(ctx, "faults", o.bin, stderr)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.bin = bin

	table := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "scenario\tfsync\tload\tfaults\tlost\tduplicated\tescalations reached\ttimers fired twice\tlate p99 / worst\tlogs")
	var failures []string
	n := 0
	for _, sc := range list {
		if !strings.Contains(sc.name, o.only) {
			continue
		}
		for _, fsync := range o.fsyncs {
			for run := range o.runs {
				n++
				o.fsync = fsync
				fmt.Fprintf(stderr, "faults: %s (fsync %s, run %d) ...\n", sc.name, fsync, run+1)
				res, err := runScenario(ctx, o, sc, filepath.Join(dir, fmt.Sprint(n)))
				if err != nil {
					return fmt.Errorf("%s: %w", sc.name, err)
				}
				failures = append(failures, report(table, sc.name, fsync, res)...)
			}
		}
	}
	table.Flush()
	if len(failures) > 0 {
		return fmt.Errorf("%d failures:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return nil
}

// report writes one scenario's row and returns its failures.
func report(table io.Writer, name, fsync string, res scenarioResult) []string {
	v := res.verdict
	dups := fmt.Sprintf("%d", len(v.dupOther))
	if v.dupInWindow > 0 {
		dups += fmt.Sprintf(" (+%d in the accept-to-record window)", v.dupInWindow)
	}
	logs := "clean"
	if len(res.leaks) > 0 {
		logs = fmt.Sprintf("%d leaks", len(res.leaks))
	}
	fmt.Fprintf(table, "%s\t%s\t%d sessions, %d follow-ups, %d replies\t%s\t%d\t%s\t%d/%d\t%d\t%.1f s / %.1f s\t%s\n",
		name, fsync, v.sessions, v.followUps, v.escalations, res.faults, len(v.lost), dups, v.reached, v.escalations,
		res.firedTwice, v.p99Late.Seconds(), v.worstLate.Seconds(), logs)
	var failures []string
	if !v.settled {
		failures = append(failures, name+": not settled within -settle")
	}
	// A timer that fires twice (a stream leader killed as it fired) is
	// counted, not failed: the worker's claim makes the second job a no-op,
	// and a second text would show as a duplicate.
	for _, list := range [][]string{v.lost, v.dupOther, v.missed, res.leaks} {
		for i, s := range list {
			if i == 5 {
				failures = append(failures, fmt.Sprintf("%s: ... and %d more", name, len(list)-i))
				break
			}
			failures = append(failures, name+": "+s)
		}
	}
	return failures
}

type scenarioResult struct {
	firedTwice int
	verdict    verdict
	faults     string
	leaks      []string
}

func runScenario(ctx context.Context, o options, sc scenario, dir string) (scenarioResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return scenarioResult{}, err
	}
	clinic := escalationtest.NewReceiver(webhookSecret)
	defer clinic.Close()
	sys, err := harness.StartSystem(harness.Config{
		Bin: o.bin, Dir: dir, Fsync: o.fsync, Nodes: o.nodes, Clinics: fmt.Sprintf(clinicsJSON, clinic.URL),
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

	nc, err := nats.Connect(sys.NATSURL, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		return scenarioResult{}, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// Replicas unset: the programs made the streams; keep them as they are.
	store, err := natsjs.Provision(ctx, js, natsjs.Settings{Retention: 720 * time.Hour})
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
	if err == nil {
		res.firedTwice, err = timersFiredTwice(ctx, js)
	}
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
