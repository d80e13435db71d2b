// Package booking accepts booking systems' own webhooks (Cal.com, Calendly,
// Square Appointments, Mindbody, Acuity Scheduling): each adapter checks the
// signature exactly as its system signs, and maps the system's events to our
// session events, or says clearly why a booking cannot be followed up.
package booking

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/phone"
)

// Systems lists the booking systems with an adapter.
func Systems() []string { return []string{"acuity", "calcom", "calendly", "mindbody", "square"} }

// Request is a booking system's webhook as it arrived.
type Request struct {
	Header http.Header
	Body   []byte
	// ClinicID is the clinic whose URL was called.
	ClinicID string
	// Location is the zone of local times without an offset in the payload.
	Location *time.Location
	// Phones are the numbers the clinic may text, reading national ones
	// in the system's country.
	Phones   phone.Rules
	Settings aftercare.BookingSystem
}

// Adapter is one booking system.
type Adapter interface {
	// Verify checks the request was signed by the system with the clinic's
	// key (and, where the system stamps it, recently).
	Verify(r Request, now time.Time) error
	// Map turns the request into session events: usually one, two for a
	// move that cancels one booking and creates another, none for an event
	// that says nothing about a session (ErrIgnored explains which).
	Map(ctx context.Context, r Request) ([]aftercare.SessionEvent, error)
}

// For returns the adapter of a system, or false.
func For(system string, http *http.Client) (Adapter, bool) {
	switch system {
	case "calcom":
		return CalCom{}, true
	case "calendly":
		return Calendly{}, true
	case "square":
		return Square{HTTP: http}, true
	case "mindbody":
		return Mindbody{}, true
	case "acuity":
		return Acuity{HTTP: http}, true
	}
	return nil, false
}

// ErrBadSignature means the webhook was not signed with the clinic's key,
// or was signed too long ago.
var ErrBadSignature = errors.New("missing or invalid webhook signature")

// IgnoredError is an event that says nothing about a session's end or
// cancellation (a booking request awaiting approval, a no-change update).
type IgnoredError struct{ Reason string }

func (e *IgnoredError) Error() string { return "ignored: " + e.Reason }

// UnmappableError is a booking we cannot follow up: no mobile number, no
// end time. The clinic is told why, and the payload is kept for them.
type UnmappableError struct{ Reason string }

func (e *UnmappableError) Error() string { return "cannot follow up this booking: " + e.Reason }

func unmappable(format string, args ...any) error {
	return &UnmappableError{Reason: fmt.Sprintf(format, args...)}
}

// UpstreamError is a failure of the system's API (Square, Acuity) while
// reading what the webhook left out; the system should retry.
type UpstreamError struct{ Err error }

func (e *UpstreamError) Error() string { return "booking system API: " + e.Err.Error() }
func (e *UpstreamError) Unwrap() error { return e.Err }

// signed compares a signature the system sent with the one expected, in
// constant time.
func signed(got, want string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// clientPhone reads the first of a booking's numbers the clinic may text.
// When none is, the booking cannot be followed up: missing says what to
// change in the booking system when it gave no number at all, and a
// refused number says why (a landline, another country, ...).
func (r Request) clientPhone(missing string, candidates ...string) (string, error) {
	var refused error
	for _, raw := range candidates {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		number, err := r.Phones.Textable(raw)
		if err == nil {
			return number, nil
		}
		if refused == nil {
			refused = err
		}
	}
	if refused != nil {
		return "", unmappable("the client's phone number %v", refused)
	}
	return "", unmappable("%s", missing)
}

// sessionID joins a system's ids into ours, bounded as our API bounds them.
func sessionID(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), ":")
}

func completed(eventID, session string, end time.Time, client aftercare.Client) aftercare.SessionEvent {
	return aftercare.SessionEvent{EventID: eventID, SessionID: session, Kind: aftercare.KindCompleted, SessionEnd: &end, Client: &client}
}

func cancelled(eventID, session string) aftercare.SessionEvent {
	return aftercare.SessionEvent{EventID: eventID, SessionID: session, Kind: aftercare.KindCancelled}
}
