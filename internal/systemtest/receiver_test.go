package systemtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/escalation"
)

// clinicReceiver stands in for a clinic's system taking escalation
// webhooks: it checks each signature and records what arrived, and when.
type clinicReceiver struct {
	*httptest.Server
	secret string
	down   atomic.Bool // answer 503, as a clinic system that is down

	mu       sync.Mutex
	received []received
	refused  int
}

type received struct {
	payload escalation.Payload
	at      time.Time
}

func newClinicReceiver(t testing.TB, secret string) *clinicReceiver {
	c := &clinicReceiver{secret: secret}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *clinicReceiver) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(r.Body)
	if c.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
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
	c.received = append(c.received, received{payload: p, at: at})
	w.WriteHeader(http.StatusNoContent)
}

// escalations waits until want escalations have arrived, or the deadline.
func (c *clinicReceiver) escalations(want int, within time.Duration) []received {
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		got := append([]received(nil), c.received...)
		c.mu.Unlock()
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}
