package dispatch_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/dispatch"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/planner"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// BenchmarkDueLateness is a load run: sessions ending over a few seconds,
// three follow-ups each, fired by JetStream schedules and sent by the worker's
// consumer loop through twilio-go to the stand-in. It reports how late each
// text reached "Twilio" after its due time. Run with:
//
//	go test -run '^$' -bench DueLateness -benchtime 1x ./internal/dispatch/
func BenchmarkDueLateness(b *testing.B) {
	for _, sync := range []string{"always", "2m"} {
		b.Run("sync="+sync, func(b *testing.B) {
			for range b.N {
				lateness(b, sync, 1000)
			}
		})
	}
}

func lateness(b *testing.B, syncSetting string, sessions int) {
	ctx := context.Background()
	conn, store, err := natsjs.Open(ctx, config.NATS{EmbeddedDir: b.TempDir(), EmbeddedListen: "none", EmbeddedSync: syncSetting, Replicas: 1, Retention: 30 * 24 * time.Hour}, "load", natsjstest.Logger())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	stand := twiliotest.NewServer()
	defer stand.Close()
	sender, _ := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL})
	directory := natsjstest.Clinics(b)
	offsets := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	p := &planner.Planner{Store: store, Clinics: directory, Policy: plan.Policy{Offsets: offsets, Staleness: time.Hour},
		Now: time.Now, Log: natsjstest.Logger(), Stats: &planner.Stats{}}

	// Sessions end 15 s from now, spread over 5 s, so planning is done first.
	first := time.Now().Add(15 * time.Second)
	spread := 5 * time.Second / time.Duration(sessions)
	ends := make(map[string]time.Time, sessions)
	var wg sync.WaitGroup
	work := make(chan int)
	var mu sync.Mutex
	for range 8 {
		wg.Go(func() {
			for i := range work {
				phone := fmt.Sprintf("+4477009%05d", i)
				end := first.Add(time.Duration(i) * spread)
				mu.Lock()
				ends[phone] = end
				mu.Unlock()
				ev := aftercare.SessionEvent{EventID: fmt.Sprint(i), ClinicID: "harbour", SessionID: fmt.Sprint("s", i), Kind: aftercare.KindCompleted,
					SessionEnd: &end, Client: &aftercare.Client{Phone: phone}}
				if err := p.Apply(ctx, uint64(i+1), ev); err != nil {
					b.Error(err)
				}
			}
		})
	}
	planStart := time.Now()
	for i := range sessions {
		work <- i
	}
	close(work)
	wg.Wait()
	planTook := time.Since(planStart)
	if time.Now().After(first) {
		b.Fatalf("planning took %v, past the first due time; lower the session count", planTook)
	}

	consumer, err := natsjs.SenderLane(ctx, conn.JS, "harbour", 30*time.Second, 256)
	if err != nil {
		b.Fatal(err)
	}
	d := &dispatch.Dispatcher{Store: store, Clinics: directory, Sender: sender, Staleness: time.Hour, MaxAttempts: 3,
		RetryBase: time.Second, RetryMax: time.Second, ClaimLease: 30 * time.Second,
		Limits: dispatch.NewRateLimits(100000, 100000), Now: time.Now, Log: natsjstest.Logger(), Stats: &dispatch.Stats{}}
	runner := &jobs.Runner{Name: "sender", Consumer: consumer, Concurrency: 32, Handle: d.Handle, DeadLetter: d.DeadLetter,
		JobTimeout: 20 * time.Second, UnexpectedDelay: time.Second, Log: natsjstest.Logger()}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(runCtx) }()

	want := 3 * sessions
	deadline := time.Now().Add(90 * time.Second)
	for len(stand.Messages()) < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	<-done
	msgs := stand.Messages()
	if len(msgs) != want {
		b.Fatalf("%d texts sent, want %d", len(msgs), want)
	}
	late := make([]time.Duration, 0, want)
	seen := map[string]int{}
	for _, m := range msgs {
		step := seen[m.To]
		seen[m.To]++
		due := ends[m.To].Add(offsets[step])
		late = append(late, m.At.Sub(due))
	}
	slices.Sort(late)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(sessions)/planTook.Seconds(), "events-planned/s")
	b.ReportMetric(ms(late[0]), "min-late-ms")
	b.ReportMetric(ms(late[len(late)/2]), "p50-late-ms")
	b.ReportMetric(ms(late[len(late)*99/100]), "p99-late-ms")
	b.ReportMetric(ms(late[len(late)-1]), "max-late-ms")
}
