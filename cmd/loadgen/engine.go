package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/harness"
	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// The bare engine is the floor a delivery run is measured against: the
// same texts, due at the same times, on a nats-server with the same
// settings, through the same Twilio stand-in, with nothing but what any
// JetStream-scheduled sender needs. Each text is a message schedule that
// fires a job; one pull consumer hands the jobs to as many handlers as the
// worker has; each handler sends its text with twilio-go and acks. No
// records, no checks, no claims, no pacing.

// engineTip is as long as the service's day-N tip, so that the stand-in and
// twilio-go do the same work per text.
const engineTip = "Load Test Clinic: Day %d: drink plenty of water today and rest sore spots. Pain 0-10, or WORSE? Tel +442079460000. Reply STOP to opt out"

// engineJob is what a fired schedule carries: enough to send the text.
type engineJob struct {
	To   string `json:"to"`
	Step int    `json:"step"`
}

// engineRun starts nats-server(s) alone, schedules a text per session and
// step at the same due times as the service's run, sends them, and
// measures them as the service's are measured.
func engineRun(ctx context.Context, o options, dir string, ends []time.Time, out io.Writer) (delivery, error) {
	cpuAtStart := selfCPU()
	sys, err := harness.StartSystem(harness.Config{Bin: o.bin, Dir: dir, Fsync: o.fsync, Nodes: o.nodes, NATSOnly: true, Pprof: o.pprof != ""})
	if err != nil {
		return delivery{}, err
	}
	// Only nats-server runs here; the others' profile ports are unused.
	maps.DeleteFunc(sys.ProfAddr, func(name, _ string) bool { return !strings.HasPrefix(name, "nats-server") })
	defer sys.Stop()
	nc, err := nats.Connect(sys.NATSURL)
	if err != nil {
		return delivery{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return delivery{}, err
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "ENGINE", Subjects: []string{"engine.schedule.>", "engine.due.>"},
		Storage: jetstream.FileStorage, Replicas: o.nodes, AllowMsgSchedules: true,
	})
	if err != nil {
		return delivery{}, fmt.Errorf("engine stream: %w", err)
	}
	// As the worker's lane for one clinic: as many in hand as it allows.
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "engine", FilterSubject: "engine.due.>", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 4 * o.workers, MaxDeliver: -1,
	})
	if err != nil {
		return delivery{}, fmt.Errorf("engine consumer: %w", err)
	}

	start := time.Now()
	if err := engineSchedule(ctx, js, ends); err != nil {
		return delivery{}, err
	}
	fmt.Fprintf(out, "engine      %d schedules set in %v\n", 3*len(ends), time.Since(start).Round(time.Millisecond))
	if time.Now().After(ends[0].Add(offsets[0])) {
		fmt.Fprintln(out, "            (scheduling ran past the first due time: lateness includes it)")
	}

	sender, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: sys.Twilio.URL})
	if err != nil {
		return delivery{}, err
	}
	stop, err := engineConsume(cons, o.workers, sender, out)
	if err != nil {
		return delivery{}, err
	}
	profiles := &sync.WaitGroup{}
	if o.pprof != "" {
		// This process is the engine: profile it, and its nats-server,
		// over the window from the first due time, as the service's.
		firstDue := ends[0].Add(offsets[0])
		stopProfile := profileSelf(filepath.Join(o.pprof, "engine.pprof"), time.Until(firstDue), o.window)
		defer stopProfile()
		profiles = (&system{sys}).profile(o.pprof, "engine-", time.Until(firstDue), o.window, os.Stderr)
	}
	defer profiles.Wait()
	res := awaitTexts(ctx, o, sys.Twilio, ends)
	stop()
	res.procs = usages(sys.Procs(), cpuAtStart)
	return res, nil
}

// profileSelf takes a CPU profile of this process from after for window.
func profileSelf(path string, after, window time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-time.After(max(after, 0)):
		case <-done:
			return
		}
		f, err := os.Create(path)
		if err != nil {
			return
		}
		defer f.Close()
		if pprof.StartCPUProfile(f) != nil {
			return
		}
		select {
		case <-time.After(window):
		case <-done:
		}
		pprof.StopCPUProfile()
	}()
	return sync.OnceFunc(func() { close(done) })
}

// engineSchedule sets one schedule per text, published asynchronously as
// the planner publishes, and waits until nats-server has stored them all.
func engineSchedule(ctx context.Context, js jetstream.JetStream, ends []time.Time) error {
	const window = 1000 // publishes in flight, under nats.go's limit of 4,000
	var futures []jetstream.PubAckFuture
	for i, end := range ends {
		for step, offset := range offsets {
			name := strconv.Itoa(i) + "." + strconv.Itoa(step+1)
			data, _ := json.Marshal(engineJob{To: loadBatch.phone(i), Step: step + 1})
			msg := nats.NewMsg("engine.schedule." + name)
			msg.Data = data
			msg.Header.Set(jetstream.ScheduleHeader, "@at "+end.Add(offset).UTC().Format(time.RFC3339Nano))
			msg.Header.Set(jetstream.ScheduleTargetHeader, "engine.due."+name)
			f, err := js.PublishMsgAsync(msg)
			if err != nil {
				return fmt.Errorf("engine schedule: %w", err)
			}
			futures = append(futures, f)
			if len(futures) == window {
				if err := awaitAcks(ctx, futures); err != nil {
					return err
				}
				futures = futures[:0]
			}
		}
	}
	return awaitAcks(ctx, futures)
}

func awaitAcks(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("engine schedule: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// engineConsume sends each fired job with twilio-go, concurrency at a time,
// and acks it; a failed send is handed back at once.
func engineConsume(cons jetstream.Consumer, concurrency int, sender *twilio.Sender, out io.Writer) (stop func(), err error) {
	slots := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			var job engineJob
			if err := json.Unmarshal(msg.Data(), &job); err != nil {
				_ = msg.Term()
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := sender.Send(ctx, sms.Message{To: job.To, From: "+447700900100", Body: fmt.Sprintf(engineTip, job.Step)})
			if err != nil {
				fmt.Fprintln(out, "engine: send:", err)
				_ = msg.Nak()
				return
			}
			_ = msg.Ack()
		})
	}, jetstream.PullMaxMessages(concurrency))
	if err != nil {
		return nil, fmt.Errorf("engine consume: %w", err)
	}
	return func() { cc.Stop(); wg.Wait() }, nil
}
