package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// backlogRun loads o.backlog follow-ups due days ahead (a third as many
// sessions, ending now, with the real 24/48/72 h offsets), waits until every
// one is planned, and reports each process's memory, the store's size on
// disk, and how long each process (and nats-server) takes from a restart to
// serving again.
func (s *system) backlogRun(ctx context.Context, o options, dir string, out io.Writer) error {
	sessions := (o.backlog + 2) / 3
	fmt.Fprintf(out, "loadgen: backlog of %d follow-ups (%d sessions, due 24-72 h ahead); nats-server %s fsync=%s\n", 3*sessions, sessions, s.natsVersion, o.fsync)
	ends := make([]time.Time, sessions)
	now := time.Now()
	for i := range ends {
		ends[i] = now
	}
	in, err := s.intake(ctx, ends, o.concurrency)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "intake      %d events in %v = %.0f events/s; ack p50 %v, p99 %v\n",
		sessions, in.took.Round(time.Millisecond), float64(sessions)/in.took.Seconds(), pct(in.latency, 0.5), pct(in.latency, 0.99))

	nc, err := nats.Connect("nats://" + s.natsAddr)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFrom := time.Now()
	for {
		info, err := js.Consumer(ctx, "AFTERCARE_SESSIONS", "planner")
		if err == nil {
			ci, err := info.Info(ctx)
			if err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Second)
	}
	planned := time.Since(waitFrom) + in.took
	st, err := js.Stream(ctx, "AFTERCARE_FOLLOWUPS")
	if err != nil {
		return err
	}
	// Nothing is due for a day, so every message in the stream is a timer.
	// (A subject filter would list a million subjects and time out.)
	si, err := st.Info(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "planned     %d timers pending, all planned %v after the first event (%.0f events/s)\n",
		si.State.Msgs, planned.Round(time.Second), float64(sessions)/planned.Seconds())
	for _, p := range []*proc{s.scheduler, s.worker, s.nats} {
		u := p.usage()
		fmt.Fprintf(out, "memory      %-11s RSS now %4d MB, peak %4d MB\n", p.name, p.rss()>>20, u.peakRSS>>20)
	}
	fmt.Fprintf(out, "disk        JetStream store %d MB\n", dirSize(filepath.Join(dir, "jetstream"))>>20)

	// Restarts: each program, then nats-server under both.
	for _, name := range []string{"scheduler", "worker"} {
		took, err := s.restart(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "restart     %-11s serving (readyz 200) %v after start\n", name, took.Round(time.Millisecond))
	}
	s.nats.stop()
	t0 := time.Now()
	if s.nats, err = start("nats-server", filepath.Join(s.bin, "nats-server"), []string{"-c", s.natsConf}, nil, false); err != nil {
		return err
	}
	if err := waitTCP(s.natsAddr); err != nil {
		return err
	}
	listening := time.Since(t0)
	for _, p := range []*proc{s.scheduler, s.worker} {
		if err := waitReady(p.addr, 2*time.Minute); err != nil {
			return fmt.Errorf("%s after the nats-server restart: %w", p.name, err)
		}
	}
	fmt.Fprintf(out, "restart     nats-server listening %v after start; scheduler and worker ready again %v after start\n",
		listening.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	fmt.Fprintf(out, "memory      nats-server RSS after restart %d MB\n", s.nats.rss()>>20)
	return nil
}

// restart stops one of our programs and starts it again, timing until it
// is ready.
func (s *system) restart(name string) (time.Duration, error) {
	p, env := s.scheduler, s.env
	if name == "worker" {
		p, env = s.worker, s.workerEnv
	}
	p.stop()
	t0 := time.Now()
	np, err := start(name, filepath.Join(s.bin, name), nil, env, true)
	if err != nil {
		return 0, err
	}
	if err := waitReady(np.addr, 2*time.Minute); err != nil {
		return 0, err
	}
	if name == "worker" {
		s.worker = np
	} else {
		s.scheduler = np
	}
	return time.Since(t0), nil
}

func waitReady(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %v", addr, within)
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
