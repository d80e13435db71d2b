package systemtest

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/twiliotest"
)

// tryPost posts a session event and reports the status, or an error when
// the scheduler could not be reached (it is shutting down or gone).
func tryPost(addr, body string) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// load posts sessions as a booking system would: to the first scheduler,
// and on any failure to the next, with the same event id, until one
// accepts. It returns the phone of every acknowledged session.
type load struct {
	mu    sync.Mutex
	acked []string
	retry int
}

func (l *load) run(t *testing.T, schedulers []*program, workers, perWorker int, prefix string, end time.Time) {
	l.runUntil(t, schedulers, workers, perWorker, prefix, end, time.Now().Add(time.Hour))
}

// runUntil is run, stopping early at until.
func (l *load) runUntil(t *testing.T, schedulers []*program, workers, perWorker int, prefix string, end, until time.Time) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < perWorker && time.Now().Before(until); i++ {
				n := w*perWorker + i
				phone := fmt.Sprintf("+447701%s%04d", prefix, n)
				body := event(fmt.Sprintf("%s-e%d", prefix, n), fmt.Sprintf("%s-s%d", prefix, n), "completed", phone, end)
				for try := 0; ; try++ {
					status, err := tryPost(schedulers[(n+try)%len(schedulers)].addr, body)
					if err == nil && status == http.StatusAccepted {
						l.mu.Lock()
						l.acked = append(l.acked, phone)
						l.mu.Unlock()
						break
					}
					l.mu.Lock()
					l.retry++
					l.mu.Unlock()
					if try > 20 {
						t.Errorf("session %d never accepted: %d %v", n, status, err)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

// texts counts the texts each phone received.
func (s *system) texts() map[string]int {
	got := map[string]int{}
	for _, m := range s.twilio.Messages() {
		got[m.To]++
	}
	return got
}

// everyTextOnce waits until each acknowledged phone has its three texts,
// then checks none has more.
func (s *system) everyTextOnce(t *testing.T, phones []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := s.texts()
		missing := 0
		for _, p := range phones {
			if got[p] < 3 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			lost, dup := 0, 0
			for _, p := range phones {
				switch {
				case got[p] < 3:
					lost += 3 - got[p]
				case got[p] > 3:
					dup += got[p] - 3
				}
			}
			t.Logf("%d sessions acknowledged, %d texts expected, %d lost, %d sent twice", len(phones), 3*len(phones), lost, dup)
			if lost > 0 || dup > 0 {
				t.Errorf("%d texts lost, %d sent twice", lost, dup)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SIGTERM to a scheduler while booking systems are posting: it stops taking
// events, finishes those in flight and exits cleanly; every event it (or the
// other scheduler) acknowledged gets its three texts, once each.
func TestSchedulerSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	s := setup(t, "3s,4s,5s")
	first := s.start("scheduler")
	second := s.start("scheduler")
	s.start("worker", "SEND_RATE_PER_SENDER=1000", "SEND_BURST=100")
	l := &load{}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		// Posting goes on for 1.5 s; the first scheduler is stopped at 0.5 s.
		l.runUntil(t, []*program{first, second}, 8, 1000, "11", start, start.Add(1500*time.Millisecond))
	}()
	time.Sleep(500 * time.Millisecond)
	before := len(s.texts())
	s.stop(first, syscall.SIGTERM) // fails the test if it does not exit cleanly
	<-done
	t.Logf("posts that failed over to the other scheduler: %d (texts already out at the stop: %d)", l.retry, before)
	if l.retry == 0 {
		t.Error("no post met the stopping scheduler: the test did not stop it under load")
	}
	s.everyTextOnce(t, l.acked, 30*time.Second)
}

// SIGTERM to a worker while texts are falling due and Twilio is slow: it
// stops pulling, finishes or hands back what it holds, and exits cleanly;
// the other worker sends the rest. Nothing is lost, nothing sent twice.
func TestWorkerSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	s := setup(t, "2s,3s,4s")
	scheduler := s.start("scheduler")
	first := s.start("worker", "SEND_RATE_PER_SENDER=1000", "SEND_BURST=100")
	s.start("worker", "SEND_RATE_PER_SENDER=1000", "SEND_BURST=100")
	slow := make([]twiliotest.Reply, 200)
	for i := range slow {
		slow[i] = twiliotest.Reply{Delay: 50 * time.Millisecond}
	}
	s.twilio.Script(slow...)
	l := &load{}
	l.run(t, []*program{scheduler}, 4, 50, "12", time.Now())
	// Stop the first worker while steps are due and sends are in flight.
	deadline := time.Now().Add(10 * time.Second)
	for s.twilio.Requests() < 50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.stop(first, syscall.SIGTERM)
	s.everyTextOnce(t, l.acked, 40*time.Second)
}

// Two schedulers and two workers against one NATS, with booking systems
// posting to either and sometimes to both: each follow-up is sent once.
func TestTwoSchedulersTwoWorkers(t *testing.T) {
	t.Parallel()
	s := setup(t, "2s,3s,4s")
	schedulers := []*program{s.start("scheduler"), s.start("scheduler")}
	for range 2 {
		s.start("worker", "SEND_RATE_PER_SENDER=1000", "SEND_BURST=100")
	}
	l := &load{}
	end := time.Now()
	l.run(t, schedulers, 6, 30, "13", end)
	// The same events again, each to the other scheduler: nothing changes.
	for i := range 60 {
		body := event(fmt.Sprintf("13-e%d", i), fmt.Sprintf("13-s%d", i), "completed", fmt.Sprintf("+44770113%04d", i), end)
		if status, err := tryPost(schedulers[(i+1)%2].addr, body); err != nil || status != http.StatusAccepted {
			t.Fatalf("repeat %d: %d %v", i, status, err)
		}
	}
	s.everyTextOnce(t, l.acked, 30*time.Second)
	time.Sleep(time.Second) // a late duplicate would arrive by now
	s.everyTextOnce(t, l.acked, 0)
}

// run runs a program to completion with the system's environment and args.
func (s *system) run(name string, args []string, extraEnv ...string) string {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append([]string{
		"NATS_URL=" + s.natsURL, "CLINICS_FILE=" + s.clinics, "HARBOUR_TOKEN=" + token, "SOL_TOKEN=" + solToken,
		"HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "SMS_DRIVER=console", "FOLLOWUP_OFFSETS=" + s.offsets, "ALLOW_ANY_SEND_WINDOW=true", "FREQUENCY_CAP_PER_DAY=0", "FREQUENCY_CAP_PER_WEEK=0",
	}, extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// A follow-up dead-lettered during a Twilio outage is put back to work with
// "worker replay-dead-letters -apply" once the outage is over.
func TestReplayDeadLetters(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,1h,2h")
	scheduler := s.start("scheduler")
	s.start("worker", "SEND_MAX_ATTEMPTS=2")
	s.twilio.Script(twiliotest.Reply{Status: 500}, twiliotest.Reply{Status: 500})
	s.post(scheduler, event("r1", "r1", "completed", "+447700900971", time.Now()))
	_, js := s.store()
	if dl := s.deadLetter(t, js, "deadletter.followup.harbour.r1.1"); dl == nil {
		t.Fatal("no dead letter after the retry budget")
	}
	listed := s.run("worker", []string{"replay-dead-letters"})
	if !strings.Contains(listed, "deadletter.followup.harbour.r1.1") || !strings.Contains(listed, "retry budget") || !strings.Contains(listed, "0 replayed") {
		t.Fatalf("listing:\n%s", listed)
	}
	applied := s.run("worker", []string{"replay-dead-letters", "-apply", "-clinic", "harbour"})
	if !strings.Contains(applied, "1 replayed") {
		t.Fatalf("apply:\n%s", applied)
	}
	if got := s.messagesTo("+447700900971", 1, 10*time.Second); len(got) != 1 || !strings.Contains(got[0].Body, "Day 1") {
		t.Fatalf("after replay: %+v", got)
	}
	if again := s.run("worker", []string{"replay-dead-letters"}); !strings.Contains(again, "0 dead letters") {
		t.Errorf("the replayed dead letter is still there:\n%s", again)
	}
}
