package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/harness"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

type options struct {
	sessions      int
	window        time.Duration
	fsync         string
	concurrency   int
	workers       int
	csv           string
	bin           string
	timeout       time.Duration
	pprof         string
	backlog       int
	nodes         int
	fair          int
	engine        bool
	profileIntake bool
	lead          time.Duration
	compare       bool
	half          bool
	repeat        int
	caps          bool
}

// offsets compresses 24/48/72 h into seconds: each session's three
// follow-ups are due 1, 2 and 3 s after it ends.
var offsets = []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}

const intakeToken = "loadgen-intake-token-000000000001"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.sessions, "sessions", 2000, "session events to push; each has 3 follow-ups")
	fs.DurationVar(&o.window, "window", 10*time.Second, "every follow-up falls due within this window")
	fs.IntVar(&o.nodes, "nodes", 1, "nats-servers: 1, or 3 for a JetStream cluster with every stream at R3")
	fs.StringVar(&o.fsync, "fsync", "2m", `nats-server's sync_interval: "always" or an interval ("2m" is JetStream's default)`)
	fs.IntVar(&o.concurrency, "concurrency", 32, "session events posted at once")
	fs.IntVar(&o.workers, "worker-concurrency", 256, "WORKER_CONCURRENCY of the worker")
	fs.StringVar(&o.csv, "csv", "", "write each text's due time and lateness here, for scripts/plot-lateness")
	fs.StringVar(&o.bin, "bin", "", "directory with prebuilt scheduler, worker and nats-server (default: build them)")
	fs.IntVar(&o.backlog, "backlog", 0, "instead of a delivery run, load this many follow-ups due days ahead and measure memory, disk and restarts")
	fs.IntVar(&o.fair, "fair", 0, "instead of a delivery run, give one clinic this many texts due at once at 1 text/s, and measure another clinic's lateness meanwhile")
	fs.StringVar(&o.pprof, "pprof", "", "write CPU profiles of the worker, scheduler and nats-server over the delivery window into this directory")
	fs.DurationVar(&o.lead, "lead", 0, "time from the start of posting to the first due time (default: 1 ms a session, at least 3 s; three times that with -fsync always)")
	fs.BoolVar(&o.profileIntake, "pprof-intake", false, "with -pprof: profile from the start of the intake until the first due time, instead of over the window")
	fs.BoolVar(&o.caps, "caps", false, "plan with the frequency caps' merge on (3 a day, 21 a week: nothing held back), to measure what the merge costs")
	fs.BoolVar(&o.engine, "engine", false, "run the bare engine alone on the same settings: schedules, one pull consumer, twilio-go, ack")
	fs.BoolVar(&o.compare, "compare", false, "run the bare engine, then the service, and print the service's figures as a ratio of the engine's")
	fs.BoolVar(&o.half, "half", false, "with -compare: first run the bare engine at -sessions to find its capacity, then compare at half of it (the peak rate asked)")
	fs.IntVar(&o.repeat, "repeat", 1, "run this many engine-then-service pairs (implies -compare) and print each pair's ratio and the medians; -csv and -pprof keep the last pair's")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up waiting for texts after this long past the window (default: 30s + 1s per 1000 texts)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.sessions < 1 || o.window < 3*time.Second || o.concurrency < 1 || (o.nodes != 1 && o.nodes != 3) {
		return errors.New("want -sessions >= 1, -window >= 3s, -concurrency >= 1, -nodes 1 or 3")
	}
	if o.repeat < 1 {
		return errors.New("want -repeat >= 1")
	}
	if o.half && o.window < 4*time.Second {
		// Under 4 s the three steps' due times never all overlap: no peak.
		return errors.New("-half wants -window >= 4s")
	}
	o.compare = o.compare || o.half || o.repeat > 1
	o.engine = o.engine || o.compare
	if o.lead == 0 {
		// Every follow-up falls due after the intake (or the engine's
		// scheduling) has finished: time to post ~1,000 events/s, or a
		// third of that when every write waits for the disk.
		o.lead = max(3*time.Second, time.Duration(o.sessions)*time.Millisecond)
		if o.fsync == "always" {
			o.lead *= 3
		}
	}
	if o.timeout == 0 {
		o.timeout = 30*time.Second + time.Duration(3*o.sessions)*time.Millisecond
	}

	if o.pprof != "" {
		if err := os.MkdirAll(o.pprof, 0o755); err != nil {
			return err
		}
	}
	dir, bin, err := harness.Workspace(ctx, "loadgen", o.bin, stderr)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.bin = bin

	if o.backlog > 0 || o.fair > 0 {
		sys, err := startSystem(o, dir)
		if err != nil {
			return err
		}
		defer sys.Stop()
		if o.backlog > 0 {
			return sys.backlogRun(ctx, o, stdout)
		}
		return sys.fairRun(ctx, o, stdout)
	}

	printLoad(stdout, o)
	if o.half {
		sessions, err := halfCapacity(ctx, o, filepath.Join(dir, "capacity"), stdout)
		if err != nil {
			return err
		}
		o.sessions = sessions
		printLoad(stdout, o)
	}
	if !o.compare {
		if o.engine {
			d, err := engineDelivery(ctx, o, filepath.Join(dir, "engine"), stdout)
			if err != nil {
				return err
			}
			return writeCSV(o.csv, d.rows)
		}
		res, err := serviceDelivery(ctx, o, filepath.Join(dir, "service"), stdout, stderr)
		if err != nil {
			return err
		}
		if err := writeCSV(o.csv, res.rows); err != nil {
			return err
		}
		return res.check()
	}
	var pairs [][2]delivery
	for i := range o.repeat {
		if o.repeat > 1 {
			fmt.Fprintf(stdout, "\npair        %d of %d\n", i+1, o.repeat)
		}
		floor, err := engineDelivery(ctx, o, filepath.Join(dir, "engine"+strconv.Itoa(i)), stdout)
		if err != nil {
			return err
		}
		res, err := serviceDelivery(ctx, o, filepath.Join(dir, "service"+strconv.Itoa(i)), stdout, stderr)
		if err != nil {
			return err
		}
		compare(stdout, floor, res)
		if err := writeCSV(o.csv, res.rows); err != nil {
			return err
		}
		if err := res.check(); err != nil {
			return fmt.Errorf("pair %d of %d: %w", i+1, o.repeat, err)
		}
		pairs = append(pairs, [2]delivery{floor, res})
	}
	if len(pairs) > 1 {
		printPairs(stdout, pairs)
	}
	return nil
}

// engineDelivery runs the bare engine at o's load and checks that it sent
// each text once.
func engineDelivery(ctx context.Context, o options, dir string, out io.Writer) (delivery, error) {
	d, err := engineRun(ctx, o, dir, dueEnds(o, time.Now().Add(o.lead)), out)
	if err != nil {
		return delivery{}, err
	}
	d.print(out, "engine")
	if err := d.check(); err != nil {
		return delivery{}, fmt.Errorf("bare engine: %w", err)
	}
	return d, nil
}

// serviceDelivery runs nats-server, the scheduler and the worker, posts
// the sessions over the intake and measures the texts that come of them.
// The caller checks the result: a lost or doubled text is an error.
func serviceDelivery(ctx context.Context, o options, dir string, stdout, stderr io.Writer) (delivery, error) {
	cpuAtStart := selfCPU()
	sys, err := startSystem(o, dir)
	if err != nil {
		return delivery{}, err
	}
	defer sys.Stop()
	fmt.Fprintf(stdout, "service     nats-server %s\n", sys.NATSVersion)
	ends := dueEnds(o, time.Now().Add(o.lead))
	firstDue := ends[0].Add(offsets[0])
	if o.profileIntake {
		sys.profile(o.pprof, "", 0, o.lead, stderr)
	}
	postedAt := time.Now()
	in, err := sys.intake(ctx, loadBatch, ends, o.concurrency)
	if err != nil {
		return delivery{}, err
	}
	fmt.Fprintf(stdout, "intake      %d events in %v = %.0f events/s; ack p50 %v, p99 %v, max %v (%d at once)\n",
		o.sessions, in.took.Round(time.Millisecond), float64(o.sessions)/in.took.Seconds(),
		pct(in.latency, 0.5), pct(in.latency, 0.99), pct(in.latency, 1), o.concurrency)
	planned := sys.planned(ctx)
	if in.lateStart {
		fmt.Fprintln(stdout, "            (intake ran past the first due time: lateness includes intake)")
	}

	profiles := &sync.WaitGroup{}
	if !o.profileIntake {
		profiles = sys.profile(o.pprof, "", time.Until(firstDue), o.window, stderr)
	}
	res := awaitTexts(ctx, o, sys.Twilio, ends)
	res.procs = usages(sys.Procs(), cpuAtStart)
	if at, ok := <-planned; ok {
		fmt.Fprintf(stdout, "planning    every event planned %v after the first was posted: %v %s the first due time\n",
			at.Sub(postedAt).Round(time.Millisecond), at.Sub(firstDue).Abs().Round(time.Millisecond), map[bool]string{true: "after", false: "before"}[at.After(firstDue)])
	}
	res.print(stdout, "service")
	printLogged(stdout, sys.Scheduler, sys.Worker)
	printCounters(stdout, sys.Worker, "aftercare_followups_total", "aftercare_do_not_text_answers_total", "aftercare_session_reads_total")
	profiles.Wait()
	return res, nil
}

// printPairs sums up -repeat: each pair's rates and ratio, and the
// medians. Under sync_interval always a run's rate varies widely from one
// run to the next on this machine (docs/performance.md), so one pair's
// ratio can mislead either way.
func printPairs(out io.Writer, pairs [][2]delivery) {
	fmt.Fprintf(out, "\n| pair | bare engine texts/s | service texts/s | service / engine | engine p99 late | service p99 late |\n|---|---|---|---|---|---|\n")
	var engines, services, ratios []float64
	for i, p := range pairs {
		engine, service := p[0], p[1]
		ratio := 0.0
		if engine.rate > 0 {
			ratio = service.rate / engine.rate
		}
		engines, services, ratios = append(engines, engine.rate), append(services, service.rate), append(ratios, ratio)
		fmt.Fprintf(out, "| %d | %.0f | %.0f | %.2f | %v | %v |\n", i+1, engine.rate, service.rate, ratio, pct(engine.lateness, 0.99), pct(service.lateness, 0.99))
	}
	fmt.Fprintf(out, "| **median** | %.0f | %.0f | **%.2f** (of medians: %.2f) | | |\n",
		median(engines), median(services), median(ratios), median(services)/median(engines))
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printLoad(out io.Writer, o options) {
	fmt.Fprintf(out, "loadgen: %d sessions, %d follow-ups due within %v (%.0f texts/s asked on average, %.0f at the peak); fsync=%s; %d node(s); %d CPUs\n",
		o.sessions, 3*o.sessions, o.window, float64(3*o.sessions)/o.window.Seconds(), peakRate(o.sessions, o.window), o.fsync, o.nodes, runtime.NumCPU())
}

// peakRate is the texts a second asked while all three steps' due times
// overlap (see dueEnds): a quarter above the average over a 10 s window.
func peakRate(sessions int, window time.Duration) float64 {
	return 3 * float64(sessions) / (window - offsets[2] + offsets[0]).Seconds()
}

// halfCapacity runs the bare engine at o's load to find its capacity (the
// rate it sends at when asked for more), and returns the sessions whose
// peak rate asked is half of that: the load at which issue 19 wants the
// service's p99 lateness under 1 s.
//
// The capacity is the engine's rate from the first due time to the last
// text, which takes in the first seconds' ramp (see dueEnds), when it is
// not yet behind: asked twice what it can do, it reads a few per cent low.
func halfCapacity(ctx context.Context, o options, dir string, out io.Writer) (int, error) {
	o.pprof = "" // profiles are of the runs compared
	d, err := engineRun(ctx, o, dir, dueEnds(o, time.Now().Add(o.lead)), out)
	if err != nil {
		return 0, err
	}
	d.print(out, "capacity")
	if err := d.check(); err != nil {
		return 0, fmt.Errorf("bare engine: %w", err)
	}
	if asked := float64(3*o.sessions) / o.window.Seconds(); d.rate > 0.9*asked {
		return 0, fmt.Errorf("the bare engine kept up with %.0f texts/s asked (it sent %.0f/s): ask for more to find its capacity", asked, d.rate)
	}
	sessions := int(d.rate / 2 / peakRate(1, o.window))
	fmt.Fprintf(out, "half        the bare engine's capacity is %.0f texts/s: next, both at %.0f texts/s at the peak\n\n", d.rate, d.rate/2)
	return max(sessions, 1), nil
}

// planned says when the planner has no event left to plan (closed,
// without a value, if that cannot be read).
func (s *system) planned(ctx context.Context) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		defer close(at)
		nc, err := nats.Connect(s.NATSURL)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		for ctx.Err() == nil {
			if c, err := js.Consumer(ctx, "AFTERCARE_SESSIONS", "planner"); err == nil {
				if ci, err := c.Info(ctx); err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 {
					at <- time.Now()
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return at
}

// dueEnds spreads the sessions' ends so that every follow-up falls due in
// [firstDue, firstDue+window).
func dueEnds(o options, firstDue time.Time) []time.Time {
	firstDue = firstDue.Truncate(time.Millisecond)
	span := o.window - offsets[2] + offsets[0]
	ends := make([]time.Time, o.sessions)
	for i := range ends {
		ends[i] = firstDue.Add(-offsets[0] + time.Duration(int64(span)*int64(i)/int64(o.sessions)))
	}
	return ends
}

// delivery is what a delivery run measured: the texts, and each process's
// peak memory and CPU.
type delivery struct {
	result
	want  int
	procs []usage
}

type usage struct {
	name   string
	rss    int64
	cpu    time.Duration
	remark string
}

// awaitTexts waits until every text has arrived at the stand-in, or the
// timeout, and measures them.
func awaitTexts(ctx context.Context, o options, stand *twiliotest.Server, ends []time.Time) delivery {
	want := 3 * len(ends)
	deadline := ends[len(ends)-1].Add(offsets[2] + o.timeout)
	for stand.Count() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a late duplicate would arrive by now
	return delivery{result: measure(stand.Messages(), loadBatch, ends), want: want}
}

// printLogged counts what each program logged at warn and above (the
// level of a load run) by message: retries and the like are work a run's
// figures would otherwise hide.
func printLogged(out io.Writer, procs ...*harness.Proc) {
	for _, p := range procs {
		counts := map[string]int{}
		for line := range strings.Lines(p.Logs()) {
			var entry struct{ Level, Msg string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg != "" {
				counts[entry.Level+" "+entry.Msg]++
			}
		}
		if len(counts) == 0 {
			fmt.Fprintf(out, "logged      %-11s nothing at warn or above\n", p.Name)
			continue
		}
		keys := slices.Sorted(maps.Keys(counts))
		slices.SortStableFunc(keys, func(a, b string) int { return counts[b] - counts[a] })
		for _, k := range keys[:min(len(keys), 5)] {
			fmt.Fprintf(out, "logged      %-11s %6d × %s\n", p.Name, counts[k], k)
		}
	}
}

// printCounters prints a program's nonzero counters of the given names
// from its /metrics: what it did with the texts, besides sending them.
func printCounters(out io.Writer, p *harness.Proc, names ...string) {
	res, err := http.Get("http://" + p.Addr + "/metrics")
	if err != nil {
		fmt.Fprintf(out, "counted     %-11s could not read its metrics: %v\n", p.Name, err)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var counted []string
	for line := range strings.Lines(string(body)) {
		name, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		if value != "0" && slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(name, n+"{") || name == n }) {
			counted = append(counted, strings.TrimPrefix(name, "aftercare_")+" "+value)
		}
	}
	fmt.Fprintf(out, "counted     %-11s %s\n", p.Name, strings.Join(counted, ", "))
}

// selfCPU is the CPU this process has spent so far.
func selfCPU() time.Duration {
	self, _ := rusage()
	return time.Duration(self.Utime.Nano() + self.Stime.Nano())
}

func rusage() (syscall.Rusage, bool) {
	var self syscall.Rusage
	ok := syscall.Getrusage(syscall.RUSAGE_SELF, &self) == nil
	return self, ok
}

// usages reads each process's peak RSS and CPU, and this process's CPU
// since the run began (at since): the Twilio stand-in, the posting and
// the measuring (and the bare engine's sender) are CPU a real deployment
// would not spend here.
func usages(procs []*harness.Proc, since time.Duration) []usage {
	var us []usage
	for _, p := range procs {
		u := p.Usage()
		us = append(us, usage{name: p.Name, rss: u.PeakRSS, cpu: u.CPU})
	}
	if self, ok := rusage(); ok {
		us = append(us, usage{name: "loadgen", rss: self.Maxrss << 10, cpu: selfCPU() - since, remark: " (the Twilio stand-in, the load; for the engine, its sender too; RSS: this process's peak so far)"})
	}
	return us
}

func (d delivery) print(out io.Writer, what string) {
	fmt.Fprintf(out, "%-11s %d texts, %.0f texts/s from first due to last sent; lateness p50 %v, p99 %v, max %v\n",
		what, d.sent, d.rate, pct(d.lateness, 0.5), pct(d.lateness, 0.99), pct(d.lateness, 1))
	fmt.Fprintf(out, "correctness expected %d, sent %d, lost %d, sent twice %d\n", d.want, d.sent, d.want-d.unique, d.sent-d.unique)
	if d.want > d.unique {
		fmt.Fprintln(out, "            (lost: not at the stand-in by the -timeout; a run that falls far behind needs a longer one to tell late from lost)")
	}
	for _, u := range d.procs {
		fmt.Fprintf(out, "resources   %-11s peak RSS %4d MB, CPU %6.1f s%s\n", u.name, u.rss>>20, u.cpu.Seconds(), u.remark)
	}
}

// check fails a run that lost a text or sent one twice.
func (d delivery) check() error {
	if d.want-d.unique != 0 || d.sent != d.unique {
		return fmt.Errorf("%d follow-ups lost and %d sent twice", d.want-d.unique, d.sent-d.unique)
	}
	return nil
}

// compare prints the service beside the bare engine, ratios first.
func compare(out io.Writer, engine, service delivery) {
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	fmt.Fprintf(out, "\n| same run, same nats-server settings | texts/s | p50 late | p99 late | max late | CPU per text, all processes |\n|---|---|---|---|---|---|\n")
	for _, r := range []struct {
		name string
		d    delivery
	}{{"bare engine", engine}, {"service", service}} {
		fmt.Fprintf(out, "| %s | %.0f | %v | %v | %v | %v |\n", r.name, r.d.rate, pct(r.d.lateness, 0.5), pct(r.d.lateness, 0.99), pct(r.d.lateness, 1), r.d.cpuPerText().Round(time.Microsecond))
	}
	fmt.Fprintf(out, "| **service / engine** | **%s** | %s | %s | %s | %s |\n", ratio(service.rate, engine.rate),
		ratio(pct(service.lateness, 0.5).Seconds(), pct(engine.lateness, 0.5).Seconds()),
		ratio(pct(service.lateness, 0.99).Seconds(), pct(engine.lateness, 0.99).Seconds()),
		ratio(pct(service.lateness, 1).Seconds(), pct(engine.lateness, 1).Seconds()),
		ratio(service.cpuPerText().Seconds(), engine.cpuPerText().Seconds()))
	fmt.Fprintf(out, "\nwhere the service's CPU per text goes (the engine's: %s):", engine.cpuSplit())
	fmt.Fprintf(out, " %s\n", service.cpuSplit())
}

// cpuPerText is every process's CPU over the run, per text sent.
func (d delivery) cpuPerText() time.Duration {
	var total time.Duration
	for _, u := range d.procs {
		total += u.cpu
	}
	if d.unique == 0 {
		return 0
	}
	return total / time.Duration(d.unique)
}

func (d delivery) cpuSplit() string {
	var parts []string
	for _, u := range d.procs {
		if d.unique > 0 {
			parts = append(parts, fmt.Sprintf("%s %v", u.name, (u.cpu/time.Duration(d.unique)).Round(time.Microsecond)))
		}
	}
	return strings.Join(parts, ", ")
}

// loadClinic is the one clinic of a load run: it may text at any hour.
const loadClinic = `{"clinics":[{"id":"load","name":"Load Test Clinic","time_zone":"Europe/London",
 "send_window":"* * * * *","locale":"en","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
 "intake_token_env":"LOAD_TOKEN","escalation":{"on_call_phone":"+447700900199"}}]}`

// twoClinics is a fairness run's: the load clinic, and another whose
// texts are measured while the load clinic has a backlog.
const twoClinics = `{"clinics":[{"id":"load","name":"Load Test Clinic","time_zone":"Europe/London",
 "send_window":"* * * * *","locale":"en","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
 "intake_token_env":"LOAD_TOKEN","escalation":{"on_call_phone":"+447700900199"}},
 {"id":"other","name":"Other Clinic","time_zone":"Europe/London",
 "send_window":"* * * * *","locale":"en","sender":{"from":"+447700900200"},"contact_phone":"+442079460001",
 "intake_token_env":"OTHER_TOKEN","escalation":{"on_call_phone":"+447700900299"}}]}`

const otherToken = "loadgen-intake-token-000000000002"

// batch is one clinic's share of the load: its credential, and the client
// number of its session i, by which each text is traced to its session.
type batch struct {
	token, idPrefix, phoneFormat string
}

func (b batch) phone(i int) string { return fmt.Sprintf(b.phoneFormat, i) }

var (
	loadBatch  = batch{token: intakeToken, idPrefix: "load", phoneFormat: "+4477%08d"}
	otherBatch = batch{token: otherToken, idPrefix: "other", phoneFormat: "+4478%08d"}
)

// system is the running service, with what a load run adds to it.
type system struct{ *harness.System }

// followUpOffsets compresses the offsets to seconds for a delivery run; a
// backlog keeps the real ones, so every follow-up is days ahead.
func followUpOffsets(o options) string {
	if o.backlog > 0 {
		return "24h,48h,72h"
	}
	return "1s,2s,3s"
}

// profile fetches a CPU profile of each process over the delivery window,
// into dir as <prefix><process>.pprof (go tool pprof <file>).
func (s *system) profile(dir, prefix string, after, window time.Duration, stderr io.Writer) *sync.WaitGroup {
	var wg sync.WaitGroup
	if dir == "" {
		return &wg
	}
	for name, addr := range s.ProfAddr {
		wg.Go(func() {
			time.Sleep(max(after, 0))
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(int(window.Seconds()), 1))
			res, err := http.Get(url)
			if err != nil {
				fmt.Fprintf(stderr, "loadgen: profile %s: %v\n", name, err)
				return
			}
			defer res.Body.Close()
			data, _ := io.ReadAll(res.Body)
			path := filepath.Join(dir, prefix+name+".pprof")
			if err := os.WriteFile(path, data, 0o644); err == nil {
				fmt.Fprintf(stderr, "loadgen: CPU profile of %s in %s\n", name, path)
			}
		})
	}
	return &wg
}

func startSystem(o options, dir string) (*system, error) {
	clinics, rate, burst := loadClinic, "1000000", "100000"
	if o.fair > 0 {
		// Each clinic's sender at one text a second, as a US long code.
		clinics, rate, burst = twoClinics, "1", "1"
	}
	s, err := harness.StartSystem(harness.Config{
		Bin: o.bin, Dir: dir, Fsync: o.fsync, Nodes: o.nodes, Clinics: clinics, Pprof: o.pprof != "",
		Env:       append([]string{"LOAD_TOKEN=" + intakeToken, "OTHER_TOKEN=" + otherToken, "FOLLOWUP_OFFSETS=" + followUpOffsets(o), "LOG_LEVEL=warn"}, capsEnv(o)...),
		WorkerEnv: []string{"SEND_RATE_PER_SENDER=" + rate, "SEND_BURST=" + burst, "WORKER_CONCURRENCY=" + strconv.Itoa(o.workers)},
	})
	if err != nil {
		return nil, err
	}
	return &system{s}, nil
}

// capsEnv turns the frequency caps on for -caps, high enough that the
// three texts of a session, seconds apart, all go: the merge of a client's
// plan runs for every event, and holds nothing back.
func capsEnv(o options) []string {
	if !o.caps {
		return nil
	}
	return []string{"FREQUENCY_CAP_PER_DAY=3", "FREQUENCY_CAP_PER_WEEK=21"}
}

type intakeResult struct {
	took      time.Duration
	latency   []time.Duration
	lateStart bool
}

// intake posts one session event per end for the batch's clinic,
// concurrency at a time, and records each acknowledgement's latency.
func (s *system) intake(ctx context.Context, b batch, ends []time.Time, concurrency int) (intakeResult, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 30 * time.Second}
	url := "http://" + s.Scheduler.Addr + "/v1/sessions"
	latency := make([]time.Duration, len(ends))
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ends) || ctx.Err() != nil {
					return
				}
				body, _ := json.Marshal(map[string]any{
					"event_id": fmt.Sprintf("%s-e%d", b.idPrefix, i), "session_id": fmt.Sprintf("%s-s%d", b.idPrefix, i), "kind": "completed",
					"session_end": ends[i].UTC().Format(time.RFC3339Nano),
					"client":      map[string]string{"phone": b.phone(i), "time_zone": "Europe/London"},
				})
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+b.token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				res, err := client.Do(req)
				latency[i] = time.Since(t0)
				if err != nil {
					failed.Store(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted {
					failed.Store(fmt.Errorf("session %d: HTTP %d", i, res.StatusCode))
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return intakeResult{}, fmt.Errorf("intake: %w", err)
	}
	return intakeResult{took: took, latency: latency, lateStart: time.Now().After(ends[0].Add(offsets[0]))}, ctx.Err()
}

type row struct {
	due      time.Time
	lateness time.Duration
}

type result struct {
	sent, unique int
	lateness     []time.Duration
	rate         float64
	rows         []row
}

var dayN = regexp.MustCompile(`Day (\d)`)

// measure matches each text of the batch's clinic to its session and step,
// and so to its due time.
func measure(msgs []twiliotest.Message, b batch, ends []time.Time) result {
	var r result
	seen := map[string]bool{}
	var first, last time.Time
	for _, m := range msgs {
		var i int
		if _, err := fmt.Sscanf(m.To, b.phoneFormat, &i); err != nil || i >= len(ends) {
			continue
		}
		r.sent++
		d := dayN.FindStringSubmatch(m.Body)
		if d == nil {
			continue
		}
		step, _ := strconv.Atoi(d[1])
		key := m.To + "/" + d[1]
		if seen[key] {
			continue
		}
		seen[key] = true
		due := ends[i].Add(offsets[step-1])
		r.lateness = append(r.lateness, m.At.Sub(due))
		r.rows = append(r.rows, row{due: due, lateness: m.At.Sub(due)})
		if first.IsZero() || due.Before(first) {
			first = due
		}
		if m.At.After(last) {
			last = m.At
		}
	}
	r.unique = len(seen)
	if d := last.Sub(first); d > 0 {
		r.rate = float64(r.unique) / d.Seconds()
	}
	return r
}

// pct returns the p-th quantile (0..1) of durations, rounded for reading.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	d := s[int(p*float64(len(s)-1))]
	if d > 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

func writeCSV(path string, rows []row) error {
	if path == "" {
		return nil
	}
	slices.SortFunc(rows, func(a, b row) int { return a.due.Compare(b.due) })
	var b bytes.Buffer
	b.WriteString("due_offset_s,lateness_ms\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%.3f,%.3f\n", r.due.Sub(rows[0].due).Seconds(), float64(r.lateness.Microseconds())/1000)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
