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
	// CountryCode completes national phone numbers ("44").
	CountryCode string
	Settings    aftercare.BookingSystem
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

// Phone makes a booking system's phone number E.164: "+44 7700 900123",
// "07700 900123" (with country code 44), "(555) 010-0123" (with 1),
// "0044 7700 900123". false if it cannot be read as one.
func Phone(raw, countryCode string) (string, bool) {
	var digits strings.Builder
	plus := false
	for i, r := range strings.TrimSpace(raw) {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case strings.ContainsRune(" -().\u00a0/", r):
		default:
			return "", false // letters, extensions: not a number we can text
		}
	}
	d := digits.String()
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case countryCode == "":
		return "", false
	case countryCode == "1" && len(d) == 11 && d[0] == '1':
		// NANP numbers written with their country code but no plus.
	default:
		d = countryCode + strings.TrimPrefix(d, "0") // drop a trunk prefix
	}
	phone := "+" + d
	return phone, aftercare.ValidPhone(phone)
}

// Common calling codes, longest first, to read a clinic's own number.
var callingCodes = []string{
	"212", "213", "216", "234", "254", "255", "351", "352", "353", "354", "356", "357", "358", "359", "370", "371", "372",
	"380", "385", "386", "420", "421", "852", "886", "971", "972", "973", "974",
	"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49", "51", "52",
	"53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92",
	"93", "94", "95", "98", "1", "7",
}

// CountryCode reads the calling code of an E.164 number, or "".
func CountryCode(phone string) string {
	d := strings.TrimPrefix(phone, "+")
	for _, c := range callingCodes {
		if strings.HasPrefix(d, c) {
			return c
		}
	}
	return ""
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
