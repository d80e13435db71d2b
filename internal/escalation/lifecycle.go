package escalation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// Lifecycle is what people do to an escalation: acknowledge, note, assign,
// resolve. Each change is a method of aftercare.Escalation, recorded with
// its author in the history; acknowledging stops the chain, and resolving
// stops the reminder too. The JSON API, the inbox and the on-call phone's
// "ACK 4821" all come here.
type Lifecycle struct {
	Store   *natsjs.Store
	Clinics *clinics.Directory
	Now     func() time.Time
	Log     *slog.Logger

	// betweenHolds, set by tests, runs in Raise after its first pass over
	// the follow-up records and before it writes the session.
	betweenHolds func()
}

// Acknowledge records that by owns the escalation and cancels the chain's
// remaining steps; with a reminder configured, sets it. Acknowledging again
// keeps the first owner (a note is still added).
func (l *Lifecycle) Acknowledge(ctx context.Context, clinic, id string, by aftercare.Author, note string) (aftercare.Escalation, error) {
	now := l.Now()
	e, changed, err := l.change(ctx, clinic, id, func(e *aftercare.Escalation) error { return e.Acknowledge(by, note, now) })
	if err != nil || !changed {
		return e, err
	}
	l.afterAcknowledge(ctx, e, now)
	return e, nil
}

// Resolve records that the clinic has dealt with it; nothing more fires.
func (l *Lifecycle) Resolve(ctx context.Context, clinic, id string, by aftercare.Author, note string) (aftercare.Escalation, error) {
	now := l.Now()
	e, changed, err := l.change(ctx, clinic, id, func(e *aftercare.Escalation) error { return e.Resolve(by, note, now) })
	if err != nil || !changed {
		return e, err
	}
	if err := l.Store.CancelChain(ctx, clinic, id, true); err != nil {
		// Harmless: a step or reminder that fires finds it resolved.
		l.Log.Warn("resolved, but its chain timers could not be removed", "clinic", clinic, "escalation", id, "err", err)
	}
	l.Log.Info("escalation resolved", "clinic", clinic, "escalation", id, "by", by.Kind)
	return e, nil
}

// AddNote appends a note.
func (l *Lifecycle) AddNote(ctx context.Context, clinic, id string, by aftercare.Author, note string) (aftercare.Escalation, error) {
	now := l.Now()
	e, _, err := l.change(ctx, clinic, id, func(e *aftercare.Escalation) error { return e.AddNote(by, note, now) })
	return e, err
}

// Assign gives the escalation to someone; the chain goes on until someone
// acknowledges.
func (l *Lifecycle) Assign(ctx context.Context, clinic, id string, by, to aftercare.Author) (aftercare.Escalation, error) {
	now := l.Now()
	e, _, err := l.change(ctx, clinic, id, func(e *aftercare.Escalation) error { return e.Assign(by, to, now) })
	return e, err
}

// change applies a domain change; aftercare.ErrUnchanged with nothing new
// in the history is no write and no error, and changed is false.
func (l *Lifecycle) change(ctx context.Context, clinic, id string, apply func(*aftercare.Escalation) error) (e aftercare.Escalation, changed bool, err error) {
	e, err = l.Store.UpdateEscalation(ctx, clinic, id, func(cur *aftercare.Escalation) error {
		before := len(cur.History)
		err := apply(cur)
		changed = err == nil
		if errors.Is(err, aftercare.ErrUnchanged) && len(cur.History) > before {
			return nil // a note added to a repeat: keep it
		}
		return err
	})
	if errors.Is(err, aftercare.ErrUnchanged) {
		err = nil
	}
	return e, changed, err
}

func (l *Lifecycle) afterAcknowledge(ctx context.Context, e aftercare.Escalation, now time.Time) {
	log := l.Log.With("clinic", e.ClinicID, "escalation", e.ID)
	if err := l.Store.CancelChain(ctx, e.ClinicID, e.ID, false); err != nil {
		log.Warn("acknowledged, but its chain timers could not be removed; a step that fires finds it acknowledged", "err", err)
	}
	log.Info("escalation acknowledged", "by", e.Owner.Kind, "after_ms", now.Sub(e.RaisedAt).Milliseconds())
	clinic, ok := l.Clinics.Lookup(e.ClinicID)
	if !ok || clinic.Escalation.RemindAfter <= 0 {
		return
	}
	t := natsjs.ChainTimer{ClinicID: e.ClinicID, EscalationID: e.ID, Remind: true, At: now.Add(clinic.Escalation.RemindAfter)}
	if err := l.Store.ScheduleChain(ctx, t); err != nil {
		log.Error("acknowledged, but the reminder to resolve it could not be set", "err", err)
	}
}

// ackPattern is an on-call reply: "ACK", "ack 4821", "ACK #4821".
var ackPattern = regexp.MustCompile(`(?i)^\s*ack\b\s*#?\s*([0-9]*)\s*[.!]?\s*$`)

// AckTextsPerHour bounds the coded ACK texts a clinic takes per clock hour,
// across every worker. A text's sender can be spoofed on some routes; the
// bound keeps a guesser to a few dozen tries of the 9,000 codes. Past it an
// ACK by text is refused and the chain goes on paging: the safe side.
const AckTextsPerHour = 30

// AcknowledgeByText handles a text (msgID, Twilio's MessageSid) to the
// clinic's number from one of its contact phones. It reports handled false
// for any other text (a contact may also be a client). answer is what to
// text back.
func (l *Lifecycle) AcknowledgeByText(ctx context.Context, clinic *clinics.Clinic, msgID, from, body string, at time.Time) (answer string, handled bool, err error) {
	contacts := clinic.Escalation.Contacts()
	isContact := false
	for _, c := range contacts {
		isContact = isContact || c == from
	}
	m := ackPattern.FindStringSubmatch(body)
	if !isContact || m == nil {
		return "", false, nil
	}
	code := m[1]
	if code == "" {
		return fmt.Sprintf("%s aftercare: reply ACK and the code in the alert, e.g. ACK 4821.", clinic.Name), true, nil
	}
	free, err := l.Store.TakeHourly(ctx, "ack-texts", clinic.ID, msgID, at, AckTextsPerHour)
	if err != nil {
		return "", true, err
	}
	if !free {
		l.Log.Warn("ACK by text refused: too many this hour; the chain goes on", "clinic", clinic.ID, "from", aftercare.MaskPhone(from))
		return fmt.Sprintf("%s aftercare: too many ACK texts this hour, not taken. Acknowledge in the inbox or the API; until then the chain goes on.", clinic.Name), true, nil
	}
	e, found, err := l.byCode(ctx, clinic.ID, code)
	if err != nil {
		return "", true, err
	}
	switch {
	case !found:
		return fmt.Sprintf("%s aftercare: no escalation has code %s. Check the alert text and reply ACK and its code.", clinic.Name, code), true, nil
	case e.Status == aftercare.EscalationResolved:
		return fmt.Sprintf("%s aftercare: ACK %s is stale: escalation %s was already resolved by %s.", clinic.Name, code, e.ID, e.ResolvedBy), true, nil
	case e.Status == aftercare.EscalationAcknowledged:
		return fmt.Sprintf("%s aftercare: escalation %s was already acknowledged by %s; nothing changed.", clinic.Name, e.ID, e.AcknowledgedBy), true, nil
	}
	by := aftercare.Author{Kind: aftercare.AuthorPhone, ID: aftercare.MaskPhone(from), Name: contactName(clinic, from)}
	e, err = l.Acknowledge(ctx, clinic.ID, e.ID, by, "")
	if err != nil {
		return "", true, err
	}
	if e.Owner != nil && *e.Owner == by {
		// Remember the phone, to remind its owner if it stays unresolved.
		if _, err := l.Store.UpdateEscalation(ctx, clinic.ID, e.ID, func(cur *aftercare.Escalation) error {
			cur.Chain.OwnerPhone = from
			return nil
		}); err != nil {
			l.Log.Warn("could not record the owner's phone for the reminder", "escalation", e.ID, "err", err)
		}
		return fmt.Sprintf("%s aftercare: thank you, you own escalation %s. No one else will be paged.", clinic.Name, e.ID), true, nil
	}
	return fmt.Sprintf("%s aftercare: escalation %s was already acknowledged by %s; nothing changed.", clinic.Name, e.ID, e.AcknowledgedBy), true, nil
}

// contactName says which of the clinic's contacts a phone is.
func contactName(clinic *clinics.Clinic, phone string) string {
	if phone == clinic.Escalation.OnCallPhone {
		return "on-call phone"
	}
	return "backup phone " + aftercare.MaskPhone(phone)
}

// byCode finds the escalation an ACK code names: the newest not resolved,
// else the newest resolved one (to say it is stale). Codes are four digits
// and may repeat over time; among open escalations they rarely do.
func (l *Lifecycle) byCode(ctx context.Context, clinic, code string) (aftercare.Escalation, bool, error) {
	all, err := l.Store.Escalations(ctx, clinic)
	if err != nil {
		return aftercare.Escalation{}, false, err
	}
	var stale *aftercare.Escalation
	for i, e := range all { // newest first
		if e.AckCode != code {
			continue
		}
		if e.Status != aftercare.EscalationResolved {
			return e, true, nil
		}
		if stale == nil {
			stale = &all[i]
		}
	}
	if stale != nil {
		return *stale, true, nil
	}
	return aftercare.Escalation{}, false, nil
}

// newAckCode is a four-digit code for the alert text. It needs no secrecy:
// only the clinic's contact phones can use it.
func newAckCode() string { return strconv.Itoa(1000 + rand.N(9000)) }

// freeAckCode is a code no unresolved escalation of the clinic holds, so an
// ACK meant for one cannot acknowledge another. (Two raised at the same
// instant could still draw the same; byCode then takes the newest.)
func freeAckCode(ctx context.Context, store *natsjs.Store, clinic string, draw func() string) (string, error) {
	all, err := store.Escalations(ctx, clinic)
	if err != nil {
		return "", err
	}
	taken := map[string]bool{}
	for _, e := range all {
		if e.Status != aftercare.EscalationResolved && e.AckCode != "" {
			taken[e.AckCode] = true
		}
	}
	for {
		if code := draw(); !taken[code] {
			return code, nil
		}
	}
}

// spell reads a code digit by digit in a voice call: "4 8 2 1".
func spell(code string) string { return strings.Join(strings.Split(code, ""), " ") }

// Replay puts a dead-lettered escalation back to work: its failed notices
// are cleared, to be tried again from now, and it is announced again
// (replay names this replay, so announcing it twice is stored once).
func (l *Lifecycle) Replay(ctx context.Context, clinic, id, replay string) error {
	e, err := l.Store.UpdateEscalation(ctx, clinic, id, func(cur *aftercare.Escalation) error {
		cur.Notice.ReplayedAt, cur.Notice.WebhookError, cur.Notice.OnCallError = l.Now(), "", ""
		return nil
	})
	if err != nil {
		return err
	}
	return l.Store.RepublishEscalation(ctx, e, replay)
}
