package intake

import (
	"errors"
	"maps"
	"sync"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/quota"
)

// Results counts session events by outcome: "accepted", "duplicate", or the
// reason one was rejected. It is safe for concurrent use.
type Results struct {
	mu     sync.Mutex
	counts map[string]int64
}

// Add counts one event with an outcome.
func (r *Results) Add(outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int64{}
	}
	r.counts[outcome]++
}

// Snapshot returns the counts so far.
func (r *Results) Snapshot() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts)
}

// Record counts the outcome of one event: acc when err is nil.
func (r *Results) Record(acc Accepted, err error) {
	if r == nil {
		return
	}
	switch {
	case err == nil && acc.Duplicate:
		r.Add("duplicate")
	case err == nil:
		r.Add("accepted")
	default:
		r.Add(RejectReason(err))
	}
}

// RejectReason sorts an error from Submit, or any domain error, into a
// small, fixed set of reasons: Outcome maps them to HTTP answers, and the
// metrics count them.
func RejectReason(err error) string {
	var (
		v    *aftercare.ValidationError
		m    *MalformedError
		big  *TooLargeError
		over *quota.ExceededError

		erasing *ErasingError
	)
	switch {
	case errors.As(err, &v):
		return "invalid"
	case errors.As(err, &big):
		return "too_large"
	case errors.As(err, &over):
		return "quota_exceeded"
	case errors.As(err, &erasing):
		return "erasing"
	case errors.As(err, &m):
		return "malformed"
	case errors.Is(err, aftercare.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, aftercare.ErrForbidden):
		return "forbidden"
	case errors.Is(err, aftercare.ErrNotFound):
		return "not_found"
	default:
		return "unavailable"
	}
}
