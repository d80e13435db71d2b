// Package sms defines what the worker needs from an SMS provider, the errors a
// provider's answer is sorted into, and the console driver used when no
// provider is configured.
package sms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Message is one text to send.
type Message struct {
	To string
	// From is the sending number; MessagingServiceSID is used instead when set.
	From                string
	MessagingServiceSID string
	Body                string
	// StatusCallback is where the provider reports delivery; may be empty.
	StatusCallback string
}

// Sender returns the provider's id of the accepted message.
type Sender interface {
	Send(ctx context.Context, m Message) (sid string, err error)
}

// Call is one voice call that reads a short message.
type Call struct {
	To   string
	From string // a voice-capable number: a Messaging Service cannot call
	// Twiml is what the call does when answered, e.g. <Response><Say>...</Say></Response>.
	Twiml string
}

// Finder is a provider that can say whether it already took a message:
// after a worker died mid-send, or a send went unanswered, the provider may
// have the text though we have no record of it. FindSent returns the id of
// a message like m taken since then, or "" if there is none.
type Finder interface {
	FindSent(ctx context.Context, m Message, since time.Time) (sid string, err error)
}

// FindSent asks sender, if it is a Finder, for a message like m taken since
// then. A sender that cannot look, or a permanent failure to look (a
// credential not allowed to list messages), gives "" and no error: the
// caller sends again, as it would with no lookup at all, and log says so.
// A temporary failure is returned, to try again later.
func FindSent(ctx context.Context, log *slog.Logger, sender Sender, m Message, since time.Time) (string, error) {
	finder, ok := sender.(Finder)
	if !ok {
		return "", nil
	}
	sid, err := finder.FindSent(ctx, m, since)
	if IsPermanent(err) {
		log.Warn("could not ask the SMS provider whether an earlier attempt was sent: sending again", "err", err)
		return "", nil
	}
	return sid, err
}

// MaybeTaken reports whether a failed send may still have reached the
// provider: no answer came back (a timeout, a dropped connection), or a 5xx
// that may have come from a proxy or a failure after the message was
// created, as opposed to an answer that said no (a 429, a 4xx).
func MaybeTaken(err error) bool {
	var t *TemporaryError
	return errors.As(err, &t) && (t.Status == 0 || t.Status >= 500)
}

// TemporaryError is a failure worth retrying: rate limits, provider outages,
// timeouts. RetryAfter is the provider's hint, zero when it gave none.
type TemporaryError struct {
	Code       int // provider error code, 0 if none
	Status     int // HTTP status, 0 if no response
	RetryAfter time.Duration
	Err        error
}

func (e *TemporaryError) Error() string {
	return fmt.Sprintf("temporary send failure (http %d, code %d): %v", e.Status, e.Code, e.Err)
}
func (e *TemporaryError) Unwrap() error { return e.Err }

// PermanentError is a failure that retrying cannot fix: an invalid number, a
// recipient who has opted out, a number that cannot receive texts.
type PermanentError struct {
	Code   int
	Status int
	Err    error
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("permanent send failure (http %d, code %d): %v", e.Status, e.Code, e.Err)
}
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Console prints each message, with the number masked, instead of sending it:
// the driver for local runs with no provider configured.
type Console struct {
	mu  sync.Mutex
	out io.Writer
	n   atomic.Int64
}

var _ Sender = (*Console)(nil)

// NewConsole returns a Console driver writing to out.
func NewConsole(out io.Writer) *Console {
	return &Console{out: out}
}

// Send prints the message and returns a made-up message id.
func (c *Console) Send(_ context.Context, m Message) (string, error) {
	sid := fmt.Sprintf("CONSOLE%08d", c.n.Add(1))
	from := m.From
	if m.MessagingServiceSID != "" {
		from = m.MessagingServiceSID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The body is shown because this driver exists to let a developer see the
	// texts; it is never used in production, where bodies are not logged.
	_, err := fmt.Fprintf(c.out, "SMS %s to %s from %s: %s\n", sid, aftercare.MaskPhone(m.To), from, m.Body)
	if err != nil {
		return "", &TemporaryError{Err: err}
	}
	return sid, nil
}

// Call prints the call's message and returns a made-up call id.
func (c *Console) Call(_ context.Context, call Call) (string, error) {
	sid := fmt.Sprintf("CACONSOLE%08d", c.n.Add(1))
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintf(c.out, "CALL %s to %s from %s: %s\n", sid, aftercare.MaskPhone(call.To), call.From, call.Twiml); err != nil {
		return "", &TemporaryError{Err: err}
	}
	return sid, nil
}

// NumberVerdict is what a provider error code says about the recipient.
type NumberVerdict int

const (
	NumberFine     NumberVerdict = iota
	NumberOptedOut               // the recipient replied STOP at the carrier
	NumberFailing                // the number cannot get texts: invalid, landline, unreachable
)

// Twilio error codes that describe the recipient's number, not the request.
var numberCodes = map[int]NumberVerdict{
	21610: NumberOptedOut,
	21211: NumberFailing, // invalid To
	21614: NumberFailing, // not a mobile number
	21612: NumberFailing, // cannot route to this number
	30003: NumberFailing, // unreachable handset
	30005: NumberFailing, // unknown or inactive number
	30006: NumberFailing, // landline or unreachable carrier
}

// VerdictOf reads a provider error code.
func VerdictOf(code int) NumberVerdict { return numberCodes[code] }

// ErrorCode returns the provider error code inside err, or 0.
func ErrorCode(err error) int {
	var p *PermanentError
	if errors.As(err, &p) {
		return p.Code
	}
	var t *TemporaryError
	if errors.As(err, &t) {
		return t.Code
	}
	return 0
}
