package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aftercare/aftercare/internal/twiliotest"
)

// load is a steady stream of session events posted over the real HTTP
// intake, and of red-flag replies from some of those sessions' clients,
// each retried until acknowledged as a booking system (or Twilio) would.
type load struct {
	rate     int           // session events per second
	duration time.Duration // how long events keep coming
	// scheduler and worker are the programs' current HTTP addresses; a
	// restart moves them.
	scheduler, worker atomic.Pointer[string]
	client            *http.Client

	mu sync.Mutex
	// ends has each acknowledged session's end, whence its follow-ups are due.
	ends    map[int]time.Time
	replies map[string]int // acknowledged reply MessageSid -> session index
	refused []string       // answers that were neither success nor retryable
	// inIntake counts event posts under way, to kill the scheduler mid-intake.
	inIntake atomic.Int64
	retries  atomic.Int64
}

// escalating says which sessions' clients reply that they are getting worse.
func escalating(i int) bool { return i%10 == 5 }

func phone(i int) string { return fmt.Sprintf("+4478%08d", i) }

func sessionID(i int) string { return fmt.Sprintf("f-s%d", i) }

func newLoad(rate int, duration time.Duration) *load {
	return &load{
		rate: rate, duration: duration,
		client:  &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		ends:    map[int]time.Time{},
		replies: map[string]int{},
	}
}

// run posts rate events a second for duration, and returns once every one
// (and every reply) is acknowledged or ctx ends.
func (l *load) run(ctx context.Context) {
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(l.rate))
	defer tick.Stop()
	end := time.Now().Add(l.duration)
	for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
		wg.Go(func() { l.session(ctx, i) })
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	wg.Wait()
}

// session posts session i's event; for an escalating client, it then sends
// the client's reply a moment after the first text is due.
func (l *load) session(ctx context.Context, i int) {
	end := time.Now()
	body, _ := json.Marshal(map[string]any{
		"event_id": fmt.Sprintf("f-e%d", i), "session_id": sessionID(i), "kind": "completed",
		"session_end": end.UTC().Format(time.RFC3339Nano),
		"client":      map[string]string{"phone": phone(i), "time_zone": "Europe/London"},
	})
	ok := l.retry(ctx, "session event", func() (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+*l.scheduler.Load()+"/v1/sessions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+intakeToken)
		req.Header.Set("Content-Type", "application/json")
		l.inIntake.Add(1)
		defer l.inIntake.Add(-1)
		return l.client.Do(req)
	}, http.StatusAccepted)
	if !ok {
		return
	}
	l.mu.Lock()
	l.ends[i] = end
	l.mu.Unlock()
	if !escalating(i) {
		return
	}
	select {
	case <-time.After(time.Until(end.Add(1500 * time.Millisecond))):
	case <-ctx.Done():
		return
	}
	sid := fmt.Sprintf("SMfa%030d", i)
	params := twiliotest.Inbound(sid, phone(i), clinicNumber, "worse today and my left leg is numb")
	if l.retry(ctx, "reply webhook", func() (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+*l.worker.Load()+"/v1/twilio/inbound", strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(twiliotest.AuthToken, publicBaseURL+"/v1/twilio/inbound", params))
		return l.client.Do(req)
	}, http.StatusOK) {
		l.mu.Lock()
		l.replies[sid] = i
		l.mu.Unlock()
	}
}

// retry calls do until it answers want. A refused connection, a timeout, a
// 5xx or a 429 is retried (the program may be restarting); anything else
// is recorded as refused, which fails the run.
func (l *load) retry(ctx context.Context, what string, do func() (*http.Response, error), want int) bool {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		res, err := do()
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
			res.Body.Close()
			if res.StatusCode == want {
				return true
			}
			if res.StatusCode < 500 && res.StatusCode != http.StatusTooManyRequests {
				l.mu.Lock()
				l.refused = append(l.refused, fmt.Sprintf("%s: HTTP %d %s", what, res.StatusCode, bytes.TrimSpace(msg)))
				l.mu.Unlock()
				return false
			}
		}
		l.retries.Add(1)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return false
		}
	}
}

// snapshot copies what was acknowledged: each acknowledged session's end.
func (l *load) snapshot() (acked map[int]time.Time, replies map[string]int, refused []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	acked = make(map[int]time.Time, len(l.ends))
	for k, v := range l.ends {
		acked[k] = v
	}
	replies = make(map[string]int, len(l.replies))
	for k, v := range l.replies {
		replies[k] = v
	}
	return acked, replies, append([]string(nil), l.refused...)
}
