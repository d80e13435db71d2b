// Package escalationtest stands in for a clinic's system taking escalation
// webhooks, for the tests and the fault suite.
package escalationtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aftercare/aftercare/internal/escalation"
)

// Receiver checks each webhook's signature and records what arrived, and
// when. Close it when done.
type Receiver struct {
	*httptest.Server
	// Down makes it answer 503, as a clinic's system that is down.
	Down   atomic.Bool
	secret string

	mu         sync.Mutex
	received   []Received
	refused    int // bad signature or body
	turnedAway int // answered 503 while down
}

// Received is one escalation webhook taken.
type Received struct {
	Payload escalation.Payload
	At      time.Time
}

// NewReceiver starts a receiver that checks signatures made with secret.
func NewReceiver(secret string) *Receiver {
	c := &Receiver{secret: secret}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	return c
}

func (c *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Down.Load() {
		c.turnedAway++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if err := escalation.Verify(c.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		c.refused++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p escalation.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		c.refused++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.received = append(c.received, Received{Payload: p, At: at})
	w.WriteHeader(http.StatusNoContent)
}

// Received returns the webhooks taken so far.
func (c *Receiver) Received() []Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Received(nil), c.received...)
}

// Wait waits until want webhooks have arrived, or within has passed.
func (c *Receiver) Wait(want int, within time.Duration) []Received {
	deadline := time.Now().Add(within)
	for {
		got := c.Received()
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Counts reports the webhooks refused (bad signature or body) and those
// turned away while down.
func (c *Receiver) Counts() (refused, turnedAway int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused, c.turnedAway
}
