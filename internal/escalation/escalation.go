// Package escalation is the escalation lifecycle, in one place: raising it
// for a client's reply (Lifecycle.Raise), telling the clinic at once (the
// Notifier: a signed webhook and an on-call text, each retried with backoff
// until it gets through, each done once), the clinic's chain of deadlines
// (Chain: backup texts and calls, email, the reminder), and what people do
// (Lifecycle: acknowledge, also by an "ACK 4821" text; note; assign;
// resolve; replay from the dead letters). The state changes themselves are
// methods of aftercare.Escalation.
package escalation

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/sms"
)

// Webhook headers. The signature is "v1=" and the hex HMAC-SHA256, keyed
// with the clinic's secret, of the timestamp, a full stop, and the body.
const (
	HeaderSignature = "X-Aftercare-Signature"
	HeaderTimestamp = "X-Aftercare-Timestamp" // Unix seconds
	HeaderEvent     = "X-Aftercare-Event"
	HeaderDelivery  = "X-Aftercare-Delivery" // the escalation id: the same on every retry
)

// EventRaised names the webhook sent when an escalation is raised.
const EventRaised = "escalation.raised"

// Sign returns the signature header value for body sent at timestamp ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature means a webhook was not signed with the secret, or too
// long ago (a replay).
var ErrBadSignature = errors.New("bad or stale escalation signature")

// Verify checks a webhook the way a clinic's receiver should: the
// signature over timestamp and body, and a timestamp within tolerance.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if age := now.Sub(time.Unix(ts, 0)); age > tolerance || age < -tolerance {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(header.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}

// Payload is the JSON body of the escalation webhook.
type Payload struct {
	Event      string               `json:"event"`
	Escalation aftercare.Escalation `json:"escalation"`
}

// Stats counts notices since start.
type Stats struct {
	Notified        atomic.Int64
	WebhookFailures atomic.Int64
	OnCallTexts     atomic.Int64
	GivenUp         atomic.Int64
}

// Notifier delivers escalations to clinics.
type Notifier struct {
	Store   *natsjs.Store
	Clinics *clinics.Directory
	Sender  sms.Sender
	// HTTP posts the webhooks: an egress.NewClient, which follows no
	// redirect and dials no internal address.
	HTTP *http.Client
	// StatusCallback is the worker's status URL, for the on-call text.
	StatusCallback string
	RetryBase      time.Duration
	RetryMax       time.Duration
	// GiveUpAfter is how long after raising to keep trying; then the
	// escalation is dead-lettered (it stays open in the API all the same).
	GiveUpAfter time.Duration
	// NoticeLatency, if set, is told the time from a client's text reaching
	// our webhook to the clinic's first notice.
	NoticeLatency func(time.Duration)
	Now           func() time.Time
	Log           *slog.Logger
	Stats         *Stats
}

// Handle is the jobs.Handler for the notifier consumer.
func (n *Notifier) Handle(ctx context.Context, msg jetstream.Msg) error {
	e, attempt, err := jobs.Decode[aftercare.Escalation](msg, "escalation")
	if err != nil {
		return err
	}
	return n.Notify(ctx, e.ClinicID, e.ID, attempt)
}

// Notify sends whatever notices of an escalation have not gone yet; attempt
// counts the tries so far, for the backoff.
func (n *Notifier) Notify(ctx context.Context, clinicID, id string, attempt int) error {
	clinic, ok := n.Clinics.Lookup(clinicID)
	if !ok {
		return jobs.GiveUp(fmt.Errorf("escalation %s: unknown clinic %q", id, clinicID))
	}
	e, _, err := n.Store.Escalation(ctx, clinicID, id)
	if errors.Is(err, aftercare.ErrNotFound) {
		return jobs.GiveUp(fmt.Errorf("escalation %s: no record", id))
	}
	if err != nil {
		return err
	}
	log := n.Log.With("clinic", clinicID, "escalation", id)
	if e.Status == aftercare.EscalationResolved {
		return nil // the clinic has dealt with it already
	}
	// The code goes in the alert text, and the chain's timers are set
	// before the first notice, so a chain runs even if notices keep failing.
	if e, err = schedule(ctx, n.Store, clinic, e, n.Now()); err != nil {
		return fmt.Errorf("escalation %s: set its chain: %w", id, err)
	}
	var pending []error
	if phone := clinic.Escalation.OnCallPhone; phone != "" && e.Notice.OnCallSMSSID == "" && e.Notice.OnCallError == "" {
		if err := n.textOnCall(ctx, clinic, e, attempt); err != nil {
			pending = append(pending, fmt.Errorf("on-call text: %w", err))
		}
	}
	if clinic.Escalation.WebhookURL != "" && e.Notice.WebhookDeliveredAt.IsZero() {
		if err := n.postWebhook(ctx, clinic, e); err != nil {
			pending = append(pending, fmt.Errorf("webhook: %w", err))
		}
	}
	if len(pending) == 0 {
		return nil
	}
	cause := errors.Join(pending...)
	since := e.RaisedAt
	if e.Notice.ReplayedAt.After(since) {
		since = e.Notice.ReplayedAt
	}
	if n.Now().Sub(since) > n.GiveUpAfter {
		n.Stats.GivenUp.Add(1)
		log.Error("escalation could not reach the clinic; giving up", "err", cause)
		return jobs.GiveUp(fmt.Errorf("clinic not reached within %v: %w", n.GiveUpAfter, cause))
	}
	log.Warn("escalation notice failed; will retry", "attempt", attempt, "err", cause)
	return jobs.Retry(n.backoff(attempt), cause)
}

func (n *Notifier) textOnCall(ctx context.Context, clinic *clinics.Clinic, e aftercare.Escalation, attempt int) error {
	body := alertText(clinic, e, "ALERT")
	callback := ""
	if n.StatusCallback != "" {
		callback = n.StatusCallback + "?" + url.Values{"kind": {"oncall"}, "clinic": {clinic.ID}, "escalation": {e.ID}}.Encode()
	}
	msg := sms.Message{
		To: clinic.Escalation.OnCallPhone, From: clinic.Sender.From, MessagingServiceSID: clinic.Sender.MessagingServiceSID,
		Body: body, StatusCallback: callback,
	}
	var sid string
	var err error
	if attempt > 1 {
		// An earlier attempt may have sent it unrecorded (a worker killed
		// mid-send, a send with no answer): look before texting again. The
		// text names the escalation, so it cannot be mistaken for another.
		since := e.RaisedAt
		if e.Notice.ReplayedAt.After(since) {
			since = e.Notice.ReplayedAt
		}
		sid, err = sms.FindSent(ctx, n.Log.With("clinic", clinic.ID, "escalation", e.ID), n.Sender, msg, since)
	}
	if sid == "" && err == nil {
		sid, err = n.Sender.Send(ctx, msg)
	}
	now := n.Now()
	if err != nil && !sms.IsPermanent(err) {
		return err
	}
	first := false
	updated, uerr := n.Store.UpdateEscalation(ctx, clinic.ID, e.ID, func(cur *aftercare.Escalation) error {
		if err != nil {
			cur.Notice.OnCallError = err.Error()
		} else {
			cur.Notice.OnCallSMSSID, cur.Notice.OnCallSentAt = sid, now
			first = markNotified(cur, now)
		}
		cur.UpdatedAt = now
		return nil
	})
	if uerr == nil && first {
		n.observe(updated, "on-call text")
	}
	if err != nil {
		n.Log.Error("on-call number refuses texts", "clinic", clinic.ID, "escalation", e.ID, "err", err)
		return nil // permanent: retrying cannot help; the webhook may still reach them
	}
	n.Stats.OnCallTexts.Add(1)
	return uerr
}

func (n *Notifier) postWebhook(ctx context.Context, clinic *clinics.Clinic, e aftercare.Escalation) error {
	body, err := json.Marshal(Payload{Event: EventRaised, Escalation: e})
	if err != nil {
		return err
	}
	sentAt := n.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, clinic.Escalation.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aftercare-escalations/1")
	req.Header.Set(HeaderEvent, EventRaised)
	req.Header.Set(HeaderDelivery, e.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(sentAt.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(clinic.Escalation.WebhookSecret, sentAt.Unix(), body))
	resp, postErr := n.HTTP.Do(req)
	if postErr == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode <= 399:
			// The client follows no redirect: a redirect could carry the
			// signed body to plain http or to another host.
			postErr = fmt.Errorf("clinic answered %s: redirects are not followed; set escalation.webhook_url to the address that takes the webhook", resp.Status)
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			postErr = fmt.Errorf("clinic answered %s", resp.Status)
		}
	}
	now := n.Now()
	first := false
	updated, err := n.Store.UpdateEscalation(ctx, clinic.ID, e.ID, func(cur *aftercare.Escalation) error {
		cur.Notice.WebhookAttempts++
		if postErr != nil {
			cur.Notice.WebhookError = postErr.Error()
		} else {
			cur.Notice.WebhookDeliveredAt, cur.Notice.WebhookError = now, ""
			first = markNotified(cur, now)
		}
		cur.UpdatedAt = now
		return nil
	})
	if err == nil && first {
		n.observe(updated, "webhook")
	}
	if postErr != nil {
		n.Stats.WebhookFailures.Add(1)
		return postErr
	}
	return err
}

// markNotified records the first notice to reach the clinic.
func markNotified(e *aftercare.Escalation, at time.Time) bool {
	if !e.Notice.NotifiedAt.IsZero() {
		return false
	}
	e.Notice.NotifiedAt = at
	return true
}

// observe counts the clinic as told, and how long after the client's text
// reached our webhook that was.
func (n *Notifier) observe(e aftercare.Escalation, channel string) {
	latency := e.Notice.NotifiedAt.Sub(e.ReceivedAt)
	n.Stats.Notified.Add(1)
	if n.NoticeLatency != nil {
		n.NoticeLatency(latency)
	}
	n.Log.Info("clinic notified of escalation", "clinic", e.ClinicID, "escalation", e.ID, "by", channel, "latency_ms", latency.Milliseconds())
}

func (n *Notifier) backoff(attempt int) time.Duration {
	delay := n.RetryBase << min(attempt-1, 20)
	if delay <= 0 || delay > n.RetryMax {
		delay = n.RetryMax
	}
	return time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
}

// DeadLetter stores an escalation whose notices could not get through.
func (n *Notifier) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	var e aftercare.Escalation
	if err := json.Unmarshal(msg.Data(), &e); err != nil || e.ClinicID == "" {
		// escalations.<clinic>: the clinic is the subject's.
		return n.Store.DeadLetter(ctx, "escalation", natsjs.UndecodableSuffix(msg.Subject(), 1), msg.Data(), reason)
	}
	return n.Store.DeadLetter(ctx, "escalation", e.ClinicID+"."+natsjs.Token(e.ID), msg.Data(), reason)
}
