package main

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

// clinicSystem stands in for the clinic's own system: it takes escalation
// webhooks, checks their signature, and can be down.
type clinicSystem struct {
	*httptest.Server
	down atomic.Bool

	mu       sync.Mutex
	received map[string]int // reply SID -> webhooks taken for it
	refused  int            // bad signature or body
	downHits int            // webhooks turned away while down
}

func newClinicSystem() *clinicSystem {
	c := &clinicSystem{received: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	return c
}

func (c *clinicSystem) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down.Load() {
		c.downHits++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var p escalation.Payload
	if escalation.Verify(webhookSecret, r.Header, body, time.Now(), 5*time.Minute) != nil || json.Unmarshal(body, &p) != nil {
		c.refused++
		http.Error(w, "bad signature or body", http.StatusBadRequest)
		return
	}
	c.received[p.Escalation.ReplySID]++
	w.WriteHeader(http.StatusNoContent)
}

// got reports how many webhooks arrived for the reply, and how many were
// refused or turned away in all.
func (c *clinicSystem) got(replySID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received[replySID]
}

func (c *clinicSystem) counts() (refused, downHits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused, c.downHits
}
