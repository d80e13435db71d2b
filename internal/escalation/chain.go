package escalation

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/sms"
)

// Caller places voice calls (the twilio Sender does).
type Caller interface {
	Call(ctx context.Context, c sms.Call) (sid string, err error)
}

// Mailer sends a plain-text email (the email Mailer does).
type Mailer interface {
	Mail(ctx context.Context, to, subject, body string) error
}

// ChainStats counts what chains did since start.
type ChainStats struct {
	StepsFired   atomic.Int64
	StepsSkipped atomic.Int64 // fired after an acknowledgement: nothing done
	Texts        atomic.Int64
	Calls        atomic.Int64
	Emails       atomic.Int64
	Reminders    atomic.Int64
}

// Chain fires the steps of clinics' escalation chains from their durable
// timers. A step re-reads the escalation and does nothing once someone has
// acknowledged it; each of its actions is recorded as it is done, so a step
// run again (a worker restarted mid-step) does not repeat them.
type Chain struct {
	Store   *natsjs.Store
	Clinics *clinics.Directory
	Sender  sms.Sender
	Caller  Caller
	Mailer  Mailer // nil: no clinic's chain emails
	// StatusCallback is the worker's status URL, for the backup texts.
	StatusCallback string
	RetryBase      time.Duration
	RetryMax       time.Duration
	// MaxAttempts bounds the tries of one action that keeps failing; then
	// it is recorded as failed and the step goes on.
	MaxAttempts int
	// PageLatency, if set, is told the time from the client's text reaching
	// our webhook to each backup page.
	PageLatency func(time.Duration)
	Now         func() time.Time
	Log         *slog.Logger
	Stats       *ChainStats
}

// Handle is the jobs.Handler for the chain consumer.
func (c *Chain) Handle(ctx context.Context, msg jetstream.Msg) error {
	t, attempt, err := jobs.Decode[natsjs.ChainTimer](msg, "chain step")
	if err != nil {
		return err
	}
	return c.Fire(ctx, t, attempt)
}

// DeadLetter stores a chain step given up on.
func (c *Chain) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	return c.Store.DeadLetter(ctx, "chain", strings.TrimPrefix(msg.Subject(), "chain.due."), msg.Data(), reason)
}

// Fire runs one timer: a step of the chain, or the reminder.
func (c *Chain) Fire(ctx context.Context, t natsjs.ChainTimer, attempt int) error {
	clinic, ok := c.Clinics.Lookup(t.ClinicID)
	if !ok {
		return jobs.GiveUp(fmt.Errorf("chain step of %s: unknown clinic %q", t.EscalationID, t.ClinicID))
	}
	e, _, err := c.Store.Escalation(ctx, t.ClinicID, t.EscalationID)
	if errors.Is(err, aftercare.ErrNotFound) {
		return jobs.GiveUp(fmt.Errorf("chain step of %s: no record", t.EscalationID))
	}
	if err != nil {
		return err
	}
	log := c.Log.With("clinic", clinic.ID, "escalation", e.ID)
	if t.Remind {
		return c.remind(ctx, log, clinic, e, attempt)
	}
	if e.Status != aftercare.EscalationOpen {
		c.Stats.StepsSkipped.Add(1)
		log.Info("chain step not fired: the escalation is "+string(e.Status), "step", t.Step)
		return nil
	}
	if t.Step < 1 || t.Step > len(clinic.Escalation.Chain) {
		// The clinic's chain was shortened since the timer was set.
		log.Warn("chain step no longer configured; skipped", "step", t.Step)
		return nil
	}
	for _, r := range e.Chain.Steps {
		if r.Step == t.Step && !r.FiredAt.IsZero() {
			return nil // done already: a timer set again, or a redelivery
		}
	}
	step := clinic.Escalation.Chain[t.Step-1]
	var pending []error
	for _, to := range step.Text {
		pending = append(pending, c.act(ctx, log, clinic, e.ID, t.Step, "text:"+to, attempt, func() (string, error) {
			c.Stats.Texts.Add(1)
			return c.Sender.Send(ctx, sms.Message{To: to, From: clinic.Sender.From, MessagingServiceSID: clinic.Sender.MessagingServiceSID,
				Body: backupText(clinic, e, step.Delay), StatusCallback: c.callback(clinic, e)})
		}))
	}
	for _, to := range step.Call {
		pending = append(pending, c.act(ctx, log, clinic, e.ID, t.Step, "call:"+to, attempt, func() (string, error) {
			c.Stats.Calls.Add(1)
			return c.Caller.Call(ctx, sms.Call{To: to, From: clinic.Sender.From, Twiml: callTwiml(clinic, e)})
		}))
	}
	if step.Email {
		pending = append(pending, c.act(ctx, log, clinic, e.ID, t.Step, "email", attempt, func() (string, error) {
			if c.Mailer == nil {
				return "", &sms.PermanentError{Err: errors.New("no SMTP server configured")}
			}
			subject, body := unacknowledgedEmail(clinic, e, step.Delay)
			c.Stats.Emails.Add(1)
			return "sent", c.Mailer.Mail(ctx, clinic.Escalation.Email, subject, body)
		}))
	}
	if err := errors.Join(pending...); err != nil {
		return jobs.Retry(c.backoff(attempt), err)
	}
	now := c.Now()
	_, err = c.Store.UpdateEscalation(ctx, clinic.ID, e.ID, func(cur *aftercare.Escalation) error {
		rec := cur.Chain.StepRecord(t.Step)
		if !rec.FiredAt.IsZero() {
			return aftercare.ErrUnchanged
		}
		rec.FiredAt = now
		note := fmt.Sprintf("step %d, unacknowledged after %v: paged %d by text, %d by call, email %t",
			t.Step, step.Delay, len(step.Text), len(step.Call), step.Email)
		if cur.Status != aftercare.EscalationOpen {
			note = fmt.Sprintf("step %d stopped part way: %s meanwhile", t.Step, cur.Status)
		}
		cur.Record(aftercare.EntryChainStep, note, now)
		return nil
	})
	if errors.Is(err, aftercare.ErrUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}
	c.Stats.StepsFired.Add(1)
	latency := now.Sub(e.ReceivedAt)
	if c.PageLatency != nil {
		c.PageLatency(latency)
	}
	log.Warn("escalation chain step fired: nobody acknowledged", "step", t.Step, "after", step.Delay, "latency_ms", latency.Milliseconds())
	return nil
}

// act does one action of a step unless its record says it is done, and
// records it. A permanent failure, or one that keeps failing, is recorded
// and not tried again; a temporary one is returned, to retry the step.
func (c *Chain) act(ctx context.Context, log *slog.Logger, clinic *clinics.Clinic, id string, step int, key string, attempt int, do func() (string, error)) error {
	e, _, err := c.Store.Escalation(ctx, clinic.ID, id)
	if err != nil {
		return err
	}
	if e.Chain.ActionDone(step, key) {
		return nil
	}
	if e.Status != aftercare.EscalationOpen {
		return nil // acknowledged meanwhile: page no one else
	}
	sid, actErr := do()
	if actErr != nil && !sms.IsPermanent(actErr) && attempt < c.MaxAttempts {
		log.Warn("chain action failed; will retry", "step", step, "action", maskKey(key), "attempt", attempt, "err", aftercare.MaskPhonesIn(actErr.Error()))
		return actErr
	}
	_, err = c.Store.UpdateEscalation(ctx, clinic.ID, id, func(cur *aftercare.Escalation) error {
		rec := cur.Chain.StepRecord(step)
		if rec.Done == nil {
			rec.Done = map[string]string{}
		}
		if actErr != nil {
			rec.Done[key] = "failed"
			rec.Errors = append(rec.Errors, maskKey(key)+": "+aftercare.MaskPhonesIn(actErr.Error()))
		} else {
			rec.Done[key] = sid
		}
		return nil
	})
	if actErr != nil {
		log.Error("chain action failed for good", "step", step, "action", maskKey(key), "err", aftercare.MaskPhonesIn(actErr.Error()))
	}
	return err
}

// remind tells the owner of an acknowledged, unresolved escalation that it
// is still open: their phone if they acknowledged by text, else the clinic's
// email, else the on-call phone.
func (c *Chain) remind(ctx context.Context, log *slog.Logger, clinic *clinics.Clinic, e aftercare.Escalation, attempt int) error {
	if e.Status != aftercare.EscalationAcknowledged || !e.Chain.RemindedAt.IsZero() {
		return nil
	}
	owner := "you"
	if e.Owner != nil && e.Owner.Name != "" {
		owner = e.Owner.Name
	}
	body := fmt.Sprintf("REMINDER %s aftercare: escalation %s, acknowledged by %s at %s, is not resolved yet.",
		clinic.Name, e.ID, owner, e.AcknowledgedAt.In(clinic.Location).Format("15:04"))
	var err error
	switch to := e.Chain.OwnerPhone; {
	case to == "" && clinic.Escalation.Email != "" && c.Mailer != nil:
		err = c.Mailer.Mail(ctx, clinic.Escalation.Email, "Aftercare escalation "+e.ID+" not resolved", body+"\n\nResolve it in the inbox or the escalation API.\n")
	default:
		if to == "" {
			to = clinic.Escalation.OnCallPhone
		}
		if to == "" {
			log.Warn("no one to remind of an unresolved escalation")
			return nil
		}
		_, err = c.Sender.Send(ctx, sms.Message{To: to, From: clinic.Sender.From, MessagingServiceSID: clinic.Sender.MessagingServiceSID, Body: body})
	}
	if err != nil && !sms.IsPermanent(err) && attempt < c.MaxAttempts {
		return jobs.Retry(c.backoff(attempt), fmt.Errorf("remind owner: %w", err))
	}
	now := c.Now()
	note := "owner reminded: not resolved"
	if err != nil {
		note = "reminder failed: " + aftercare.MaskPhonesIn(err.Error())
	}
	_, uerr := c.Store.UpdateEscalation(ctx, clinic.ID, e.ID, func(cur *aftercare.Escalation) error {
		cur.Chain.RemindedAt = now
		cur.Record(aftercare.EntryReminder, note, now)
		return nil
	})
	if uerr == nil {
		c.Stats.Reminders.Add(1)
		log.Info("owner reminded of an unresolved escalation")
	}
	return uerr
}

func (c *Chain) callback(clinic *clinics.Clinic, e aftercare.Escalation) string {
	if c.StatusCallback == "" {
		return ""
	}
	return c.StatusCallback + "?kind=oncall&clinic=" + clinic.ID + "&escalation=" + e.ID
}

func (c *Chain) backoff(attempt int) time.Duration {
	delay := c.RetryBase << min(attempt-1, 20)
	if delay <= 0 || delay > c.RetryMax {
		delay = c.RetryMax
	}
	return time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
}

// maskKey keeps phones out of logs and stored errors: "text:+44*******99".
func maskKey(key string) string {
	kind, phone, ok := strings.Cut(key, ":")
	if !ok {
		return key
	}
	return kind + ":" + aftercare.MaskPhone(phone)
}

// alertText is the text that pages a contact. By default it says only that
// an escalation needs attention, where to open it (the conversation in the
// inbox, behind its login) and how to take it: HIPAA's minimum necessary,
// since a text sits on a lock screen and in a phone's history. A clinic
// that wants the client's number and the reason on the text sets
// alert_details.
func alertText(clinic *clinics.Clinic, e aftercare.Escalation, lead string) string {
	where := "Open it in the inbox."
	if link := clinic.ConversationURL(e.ClientPhone); link != "" {
		where = "Open " + link + " (sign in)."
	}
	if !clinic.AlertDetails {
		return fmt.Sprintf("%s %s aftercare: an escalation needs attention. %s Reply ACK %s to take it. Ref %s",
			lead, clinic.Name, where, e.AckCode, e.ID)
	}
	session := "session " + e.SessionID
	if e.SessionID == "" {
		session = "no session on file"
	}
	return fmt.Sprintf("%s %s aftercare: client %s (%s) reported %s. Please call them. %s Reply ACK %s to take it. Ref %s",
		lead, clinic.Name, e.ClientPhone, session, strings.ReplaceAll(e.Reason, "_", " "), where, e.AckCode, e.ID)
}

func backupText(clinic *clinics.Clinic, e aftercare.Escalation, after time.Duration) string {
	return alertText(clinic, e, fmt.Sprintf("ALERT (nobody has acknowledged for %v)", after))
}

// callTwiml is the voice call's message: no client's number, words or
// condition, which anyone near the phone may hear; only that a client needs
// a call back and the code to acknowledge, said twice.
func callTwiml(clinic *clinics.Clinic, e aftercare.Escalation) string {
	say := fmt.Sprintf("Aftercare alert from %s. A client needs a call back. Reply A C K %s to the alert text.", clinic.Name, spell(e.AckCode))
	say = html.EscapeString(say)
	return `<Response><Say>` + say + `</Say><Pause length="1"/><Say>` + say + `</Say></Response>`
}

// unacknowledgedEmail is the email to the clinic: a reference, never the
// client's number or words (the minimum necessary, by email).
func unacknowledgedEmail(clinic *clinics.Clinic, e aftercare.Escalation, after time.Duration) (subject, body string) {
	subject = fmt.Sprintf("Aftercare escalation %s not acknowledged after %v", e.ID, after)
	body = fmt.Sprintf("%s: a client's reply was escalated at %s (%s) and nobody has acknowledged it after %v.\n\n"+
		"Reference: %s\nAcknowledge code: ACK %s\n\n"+
		"Open it in the inbox%s or with GET /v1/escalations/%s, call the client back, and acknowledge it.\n"+
		"This email holds no client details on purpose.\n",
		clinic.Name, e.RaisedAt.In(clinic.Location).Format("2006-01-02 15:04 MST"), strings.ReplaceAll(e.Class, "_", " "), after, e.ID, e.AckCode, linked(clinic, e), e.ID)
	return subject, body
}

// linked is " (<the conversation's URL>)", or "" when the clinic has no inbox URL.
func linked(clinic *clinics.Clinic, e aftercare.Escalation) string {
	if link := clinic.ConversationURL(e.ClientPhone); link != "" {
		return " (" + link + ")"
	}
	return ""
}

// schedule sets the timers of an escalation's chain, once, and gives it its
// ACK code. Setting them again (a notice retried before it was recorded)
// replaces them, and a step that fired already does nothing twice.
func schedule(ctx context.Context, store *natsjs.Store, clinic *clinics.Clinic, e aftercare.Escalation, now time.Time) (aftercare.Escalation, error) {
	if e.AckCode != "" && (!e.Chain.ScheduledAt.IsZero() || len(clinic.Escalation.Chain) == 0) {
		return e, nil
	}
	if e.AckCode == "" {
		code, err := freeAckCode(ctx, store, clinic.ID, newAckCode)
		if err != nil {
			return e, err
		}
		e, err = store.UpdateEscalation(ctx, clinic.ID, e.ID, func(cur *aftercare.Escalation) error {
			if cur.AckCode != "" {
				return aftercare.ErrUnchanged
			}
			cur.AckCode = code
			return nil
		})
		if errors.Is(err, aftercare.ErrUnchanged) {
			e, _, err = store.Escalation(ctx, clinic.ID, e.ID)
		}
		if err != nil {
			return e, err
		}
	}
	if len(clinic.Escalation.Chain) == 0 || !e.Chain.ScheduledAt.IsZero() || e.Status != aftercare.EscalationOpen {
		return e, nil
	}
	for i, step := range clinic.Escalation.Chain {
		t := natsjs.ChainTimer{ClinicID: clinic.ID, EscalationID: e.ID, Step: i + 1, At: e.RaisedAt.Add(step.Delay)}
		if err := store.ScheduleChain(ctx, t); err != nil {
			return e, err
		}
	}
	return store.UpdateEscalation(ctx, clinic.ID, e.ID, func(cur *aftercare.Escalation) error {
		cur.Chain.ScheduledAt = now
		return nil
	})
}
