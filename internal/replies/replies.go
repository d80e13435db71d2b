// Package replies handles clients' texts after Twilio's webhook has stored
// them: STOP/START/HELP, linking a text to its clinic, client and session,
// triage, raising an escalation for a client who is getting worse, and the
// answer sent back. Every step can run again after a crash without doing
// anything twice but, at worst, the answer text.
package replies

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/tips"
	"github.com/aftercare/aftercare/internal/triage"
)

// Stats counts replies since start.
type Stats struct {
	Replies     atomic.Int64
	Replayed    atomic.Int64 // a reply already processed, delivered again
	OptOuts     atomic.Int64
	OptIns      atomic.Int64
	Help        atomic.Int64
	Unlinked    atomic.Int64 // from a number with no session in follow-up
	Escalations atomic.Int64
	Answers     atomic.Int64
	// Answers not sent to numbers with no session here: the number was
	// answered in the last day, or the clinic's hourly cap was reached.
	WithheldDaily  atomic.Int64
	WithheldHourly atomic.Int64
	// RecordsSetAside counts client records that could not be decoded and
	// were dead-lettered so the client's texts could still be triaged.
	RecordsSetAside atomic.Int64
	// DeadLettered counts texts given up on: each may have been a red flag.
	DeadLettered atomic.Int64
	// HeldForErasure counts texts held back while their client was being
	// erased (takenDuringErasure says which are not).
	HeldForErasure atomic.Int64
	// ByClass counts replies per triage class, in triage.Classes() order.
	ByClass [7]atomic.Int64
}

// Processor handles stored inbound texts.
type Processor struct {
	Store   *natsjs.Store
	Clinics *clinics.Directory
	Sender  sms.Sender
	// Steps is how many follow-up steps a plan has; an escalation cancels
	// those not yet sent.
	Steps int
	// AnswerAttempts bounds the tries to send the answer; the rest of the
	// reply's handling does not wait on it.
	AnswerAttempts int
	// StrangerAnswersPerHour caps the answers to numbers with no session
	// here, per clinic and hour, across every worker: with many numbers
	// each answered once a day, texting us could still make us text many
	// numbers (SMS pumping). 0 answers none.
	StrangerAnswersPerHour int
	// Escalations raises escalations; nil uses an escalation.Lifecycle on Store.
	Escalations Raiser
	// Acks takes on-call replies ("ACK 4821") from the clinic's contact
	// phones; nil takes none.
	Acks  Acknowledger
	Now   func() time.Time
	Log   *slog.Logger
	Stats *Stats
}

// Raiser raises an escalation for a reply (escalation.Lifecycle does).
type Raiser interface {
	Raise(ctx context.Context, clinic *clinics.Clinic, rec aftercare.Reply, clientName string, steps int) (e aftercare.Escalation, cancelled int, err error)
}

// Acknowledger acknowledges an escalation from a staff phone's text.
type Acknowledger interface {
	// AcknowledgeByText reports handled false for a text that is not an
	// acknowledgement from one of the clinic's contact phones.
	AcknowledgeByText(ctx context.Context, clinic *clinics.Clinic, msgID, from, body string, at time.Time) (answer string, handled bool, err error)
}

// KeywordAck marks a text that was a contact's acknowledgement.
const KeywordAck = "ACK"

// Handle is the jobs.Handler for the replies consumer.
func (p *Processor) Handle(ctx context.Context, msg jetstream.Msg) error {
	in, attempt, err := jobs.Decode[aftercare.InboundSMS](msg, "inbound text")
	if err != nil {
		return err
	}
	return p.Process(ctx, in, attempt)
}

// Process handles one inbound text; attempt counts deliveries of it.
func (p *Processor) Process(ctx context.Context, in aftercare.InboundSMS, attempt int) error {
	rec, rev, err := p.Store.Reply(ctx, in.ClinicID, in.MessageSID)
	switch {
	case errors.Is(err, aftercare.ErrNotFound):
		rec = aftercare.Reply{InboundSMS: in}
	case err != nil:
		return err
	case !rec.ProcessedAt.IsZero():
		p.Stats.Replayed.Add(1)
		return nil
	}
	log := p.Log.With("clinic", natsjs.ClinicOrUnknown(in.ClinicID), "message_sid", in.MessageSID, "from", aftercare.MaskPhone(in.From))
	clinic, known := p.Clinics.Lookup(in.ClinicID)
	if !known {
		// Sent to a number of ours no clinic uses: record it, answer from
		// that number, escalate to no one.
		rec.Reason = "sent to a number no clinic is configured with"
		answer, err := tips.RenderAnswer(tips.AnswerUnknownNumber, tips.Fields{Emergency: aftercare.Clinic{}.Emergency(in.From)})
		if err != nil {
			return jobs.GiveUp(err)
		}
		if answer, err = p.strangerAnswer(ctx, log, natsjs.UnknownClinic, rec, answer, false); err != nil {
			return err
		}
		return p.finish(ctx, log, rec, rev, answer, sms.Message{To: in.From, From: in.To}, attempt)
	}

	if p.Acks != nil && (rec.Keyword == "" || rec.Keyword == KeywordAck) {
		// Staff, not a client: never triaged, opted out or answered as one.
		answer, handled, err := p.Acks.AcknowledgeByText(ctx, clinic, in.MessageSID, in.From, in.Body, in.ReceivedAt)
		if err != nil {
			return err
		}
		if handled {
			rec.Keyword = KeywordAck
			log.Info("on-call reply to an escalation alert")
			return p.finish(ctx, log, rec, rev, answer, p.fromClinic(clinic, in.From), attempt)
		}
	}
	kw := triage.KeywordOf(in.Body, in.OptOutType)
	if job, err := p.Store.Erasing(ctx, clinic.ID, in.From); err != nil {
		return err
	} else if job != "" && attempt <= maxErasureHolds && !p.takenDuringErasure(ctx, log, clinic.ID, in, kw) {
		// The reply and client records this text would write could land
		// after the erasure's last pass and outlive it. It waits instead:
		// stored before a pass, the pass erases it and it never comes
		// back; stored after, it is handled once the erasure is done.
		p.Stats.HeldForErasure.Add(1)
		log.Info("text held: the client's erasure is under way", "job", job)
		return jobs.Snooze(erasureHold, "the client's erasure is under way")
	}
	channel := aftercare.ChannelSMSKeyword
	if kw == triage.NoKeyword && triage.StopIntent(in.Body) {
		channel = aftercare.ChannelSMSPlainWords
		// A request to stop in plain words is honoured like STOP. One that
		// also says something of concern ("stop texting me, my leg has
		// gone numb") opts out and is triaged as well, never silently
		// opted out: the clinic hears of it.
		// Read with the client's last score, as triage will: "stop
		// texting me, 7 now" after a 4 is worsening, not a plain stop.
		client, err := p.client(ctx, log, clinic.ID, in.From)
		if err != nil {
			return err
		}
		if !triage.OfConcern(triage.Classify(in.Body, client.LastScore).Class) {
			kw = triage.OptOut
		} else if rec.Keyword == "" {
			if err := p.Store.RecordOptOut(ctx, clinic.ID, in.From, consentEntry(aftercare.ConsentOptOut, channel, rec, p.Now()), p.Now()); err != nil {
				return err
			}
			p.Stats.OptOuts.Add(1)
			rec.Keyword = string(triage.OptOut)
			log.Info("client opted out in plain words, with something of concern: triaged as well")
		}
	}
	if kw != triage.NoKeyword {
		return p.keyword(ctx, log, clinic, rec, rev, kw, channel, attempt)
	}

	var sess aftercare.Session
	if rec.TriagedAt.IsZero() {
		if rec, rev, err = p.triage(ctx, log, clinic, rec, rev); err != nil {
			return err
		}
	}
	if rec.SessionID != "" {
		if sess, _, err = p.Store.Session(ctx, clinic.ID, rec.SessionID); err != nil && !errors.Is(err, aftercare.ErrNotFound) {
			return err
		}
	}
	log = log.With("session", rec.SessionID, "class", rec.Class)
	fields := tips.Fields{Clinic: clinic.Name, Contact: clinic.ContactPhone, Emergency: clinic.Emergency(in.From), ReplyBy: clinic.ReplyBy}
	var kind tips.Answer
	if rec.SessionID == "" {
		p.Stats.Unlinked.Add(1)
	}
	escalates := triage.Class(rec.Class).Escalates()
	if escalates && rec.SessionID == "" && rec.EscalationID == "" {
		// A number with no session on file (a plan not yet made, a client
		// texting from another phone) told the clinic's line of someone
		// getting worse: the clinic hears of it, once a day per number.
		if escalates, err = p.strangerSlot(ctx, clinic.ID, rec, escalationSlot, false); err != nil {
			return err
		}
		if !escalates {
			p.Stats.WithheldDaily.Add(1)
			log.Info("answer withheld: this number with no session was escalated in the last day")
			return p.finish(ctx, log, rec, rev, "", p.fromClinic(clinic, in.From), attempt)
		}
	}
	switch {
	case escalates:
		if rec, rev, err = p.escalate(ctx, log, clinic, sess, rec, rev); err != nil {
			return err
		}
		kind = tips.AnswerWorsening
		if rec.Class == string(triage.RedFlag) {
			kind = tips.AnswerRedFlag
		}
		if rec.Flag == triage.FlagSelfHarm {
			kind = tips.AnswerCrisisNoLine
			if line, ok := aftercare.CrisisLineFor(in.From); ok {
				kind, fields.CrisisNumber, fields.CrisisName = tips.AnswerCrisis, line.Number, line.Name
			}
		}
	case rec.SessionID == "":
		kind = tips.AnswerUnknownClient
	case rec.Class == string(triage.Question):
		kind = tips.AnswerQuestion
	}
	answer := ""
	if kind != "" {
		if answer, err = tips.RenderAnswer(kind, fields, sess.Client.Locale, clinic.Locale); err != nil {
			return jobs.GiveUp(err)
		}
	}
	if rec.SessionID == "" {
		// An escalation's answer is already once a day (its own slot); it
		// takes the answer slot all the same, and counts in the hourly cap.
		if answer, err = p.strangerAnswer(ctx, log, clinic.ID, rec, answer, escalates); err != nil {
			return err
		}
	}
	return p.finish(ctx, log, rec, rev, answer, p.fromClinic(clinic, in.From), attempt)
}

// erasureHold is how long a text held for its client's erasure waits
// before it is tried again: erasures take seconds. A held text keeps its
// place among the replies consumer's texts in hand, shared by every
// clinic, so it is held at most maxErasureHolds times (about half a
// minute) and then handled whatever the tombstone says.
const (
	erasureHold     = 10 * time.Second
	maxErasureHolds = 3
)

// takenDuringErasure says which texts of a client being erased are handled
// all the same: a keyword (an opt-out, which the erasure keeps and which
// must stop every later text; START; HELP, which carriers require us to
// answer), a plain request to stop, and a text triage escalates, read with
// the client's last score as triage reads it (the clinic must hear of
// worsening; the escalation is a clinical record the erasure keeps, and
// the reply with it outlives the erasure, as docs/security.md says).
func (p *Processor) takenDuringErasure(ctx context.Context, log *slog.Logger, clinic string, in aftercare.InboundSMS, kw triage.Keyword) bool {
	if kw != triage.NoKeyword || triage.StopIntent(in.Body) {
		return true
	}
	client, err := p.client(ctx, log, clinic, in.From)
	if err != nil {
		return true // unread, the text is handled: never held blind
	}
	return triage.Classify(in.Body, client.LastScore).Class.Escalates()
}

// strangerAnswerGap is how often a number we do not know is answered.
const strangerAnswerGap = 24 * time.Hour

// strangerHourly names the clinic's hourly count of answers to strangers.
const strangerHourly = "stranger-answers"

// strangerAnswer returns the answer for a number with no session with us,
// whatever it is (HELP, a STOP confirmation, an escalation's answer), or ""
// to withhold it: a number is answered once a day (taken takes the day's
// slot regardless, for an answer already allowed by the escalation's own
// slot), and a clinic answers at most StrangerAnswersPerHour such numbers
// an hour. Both are decided per reply, so a redelivery decides the same.
func (p *Processor) strangerAnswer(ctx context.Context, log *slog.Logger, clinic string, rec aftercare.Reply, answer string, taken bool) (string, error) {
	if answer == "" || rec.AnswerSID != "" || rec.Answer != "" {
		return answer, nil // nothing to say, or already said
	}
	free, err := p.strangerSlot(ctx, clinic, rec, answerSlot, taken)
	if err != nil {
		return "", err
	}
	if !free {
		p.Stats.WithheldDaily.Add(1)
		log.Info("answer withheld: this number with no session was answered in the last day")
		return "", nil
	}
	free, err = p.Store.TakeHourly(ctx, strangerHourly, clinic, rec.MessageSID, rec.ReceivedAt, p.StrangerAnswersPerHour)
	if err != nil {
		return "", err
	}
	if !free {
		p.Stats.WithheldHourly.Add(1)
		log.Warn("answer withheld: the clinic's hourly cap on answers to numbers with no session is reached", "cap", p.StrangerAnswersPerHour)
		return "", nil
	}
	return answer, nil
}

// A number with no session with us has two once-a-day slots: one for an
// answer, one for an escalation.
func answerSlot(c *aftercare.ClientRecord) *time.Time     { return &c.StrangerAnsweredAt }
func escalationSlot(c *aftercare.ClientRecord) *time.Time { return &c.StrangerEscalatedAt }

// strangerSlot says whether a number with no session with us may be
// answered (or escalated) now: once a day, so texting us cannot be used to
// make us send texts or page the clinic. It is decided when the reply is
// first handled, so a redelivery keeps the same decision. force takes the
// slot whether or not it was free.
func (p *Processor) strangerSlot(ctx context.Context, clinic string, rec aftercare.Reply, slot func(*aftercare.ClientRecord) *time.Time, force bool) (bool, error) {
	now := p.Now()
	allowed := false
	err := p.Store.UpdateClient(ctx, clinic, rec.From, now, func(c *aftercare.ClientRecord) bool {
		last := slot(c)
		if last.Equal(rec.ReceivedAt) {
			allowed = true // this very reply took the slot before a crash
			return false
		}
		allowed = force || now.Sub(*last) >= strangerAnswerGap
		if !allowed {
			return false
		}
		*last = rec.ReceivedAt
		return true
	})
	return allowed && err == nil, err
}

// consentEntry is a client's opt-out or opt-in by text, for their consent
// record: when the text reached us, how, and which text it was (by its SID:
// the words, which may be about their health, stay in the reply record and
// its retention, not in evidence kept for years).
func consentEntry(kind aftercare.ConsentKind, channel string, rec aftercare.Reply, now time.Time) aftercare.ConsentEntry {
	e := aftercare.ConsentEntry{Kind: kind, At: rec.ReceivedAt.UTC(), Channel: channel, Source: "sms", MessageSID: rec.MessageSID, RecordedAt: now}
	if rec.OptOutType != "" {
		e.Source = "twilio advanced opt-out"
	}
	if e.At.IsZero() {
		e.At = now
	}
	return e
}

func (p *Processor) fromClinic(c *clinics.Clinic, to string) sms.Message {
	return sms.Message{To: to, From: c.Sender.From, MessagingServiceSID: c.Sender.MessagingServiceSID}
}

// keyword applies STOP, START or HELP. With Twilio's Advanced Opt-Out on
// (OptOutType is set), Twilio has already answered the client with the
// clinic's configured text, so we do not answer a second time. The opt-out
// is recorded first and always (the law requires STOP be honoured); only
// the answer to a number with no session here is limited, as any other.
func (p *Processor) keyword(ctx context.Context, log *slog.Logger, clinic *clinics.Clinic, rec aftercare.Reply, rev uint64, kw triage.Keyword, channel string, attempt int) error {
	rec.Keyword = string(kw)
	now := p.Now()
	var kind tips.Answer
	switch kw {
	case triage.OptOut:
		if err := p.Store.RecordOptOut(ctx, clinic.ID, rec.From, consentEntry(aftercare.ConsentOptOut, channel, rec, now), now); err != nil {
			return err
		}
		p.Stats.OptOuts.Add(1)
		kind = tips.AnswerOptOut
		log.Info("client opted out")
	case triage.OptIn:
		if err := p.Store.RecordOptOut(ctx, clinic.ID, rec.From, consentEntry(aftercare.ConsentOptIn, channel, rec, now), now); err != nil {
			return err
		}
		p.Stats.OptIns.Add(1)
		kind = tips.AnswerOptIn
		log.Info("client opted back in")
	case triage.Help:
		p.Stats.Help.Add(1)
		kind = tips.AnswerHelp
	}
	answer := ""
	if rec.OptOutType == "" {
		client, err := p.client(ctx, log, clinic.ID, rec.From)
		if err != nil {
			return err
		}
		locale := clinic.Locale
		latest, known := client.LatestSession()
		if known {
			if s, _, err := p.Store.Session(ctx, clinic.ID, latest.SessionID); err == nil && s.Client.Locale != "" {
				locale = s.Client.Locale
			}
		}
		answer, err = tips.RenderAnswer(kind, tips.Fields{Clinic: clinic.Name, Contact: clinic.ContactPhone, Emergency: clinic.Emergency(rec.From)}, locale, clinic.Locale)
		if err != nil {
			return jobs.GiveUp(err)
		}
		if !known {
			if answer, err = p.strangerAnswer(ctx, log, clinic.ID, rec, answer, false); err != nil {
				return err
			}
		}
	}
	return p.finish(ctx, log, rec, rev, answer, p.fromClinic(clinic, rec.From), attempt)
}

// triage links the text to the client's latest session, classifies it
// against their previous score, and records both before anything acts on
// them, so a reprocessed text is judged exactly as the first time.
func (p *Processor) triage(ctx context.Context, log *slog.Logger, clinic *clinics.Clinic, rec aftercare.Reply, rev uint64) (aftercare.Reply, uint64, error) {
	client, err := p.client(ctx, log, clinic.ID, rec.From)
	if err != nil {
		return rec, rev, err
	}
	if latest, ok := client.LatestSession(); ok {
		rec.SessionID = latest.SessionID
	}
	d := triage.Classify(rec.Body, client.LastScore)
	rec.Class, rec.Flag, rec.Reason, rec.Score, rec.PreviousScore = string(d.Class), d.Flag, d.Reason, d.Score, d.PreviousScore
	rec.TriagedAt = p.Now()
	newRev, err := p.Store.SaveReply(ctx, rec, rev)
	if err != nil {
		return rec, rev, err // a conflict: another worker has it; retried
	}
	p.Stats.Replies.Add(1)
	for i, c := range triage.Classes() {
		if c == d.Class {
			p.Stats.ByClass[i].Add(1)
		}
	}
	// A text proves the number works; a score is the baseline for the next.
	if err := p.Store.ClearFailing(ctx, clinic.ID, rec.From); err != nil {
		return rec, newRev, err
	}
	err = p.Store.UpdateClient(ctx, clinic.ID, rec.From, rec.TriagedAt, func(c *aftercare.ClientRecord) bool {
		if d.Score == nil || rec.ReceivedAt.Before(c.LastScoreAt) || c.LastScoreReply == rec.MessageSID {
			return false
		}
		c.LastScore, c.LastScoreAt, c.LastScoreReply = d.Score, rec.ReceivedAt, rec.MessageSID
		return true
	})
	return rec, newRev, err
}

// escalate has the escalation raised (escalation.Lifecycle.Raise: the
// record, the event, the hold on the session's tips) and links the reply to
// it. Each step is idempotent.
func (p *Processor) escalate(ctx context.Context, log *slog.Logger, clinic *clinics.Clinic, sess aftercare.Session, rec aftercare.Reply, rev uint64) (aftercare.Reply, uint64, error) {
	e, cancelled, err := p.raiser().Raise(ctx, clinic, rec, sess.Client.Name, p.Steps)
	if err != nil {
		return rec, rev, err
	}
	if rec.EscalationID == "" {
		p.Stats.Escalations.Add(1)
		// The reason quotes the client's words: health data, kept out of logs.
		log.Warn("escalation raised", "escalation", e.ID)
	}
	if cancelled > 0 {
		log.Info("remaining tips cancelled", "escalation", e.ID, "cancelled", cancelled)
	}
	rec.EscalationID = e.ID
	newRev, err := p.Store.SaveReply(ctx, rec, rev)
	return rec, newRev, err
}

// raiser is the escalation lifecycle; a Processor built without one gets
// one on its store.
func (p *Processor) raiser() Raiser {
	if p.Escalations != nil {
		return p.Escalations
	}
	return &escalation.Lifecycle{Store: p.Store, Clinics: p.Clinics, Now: p.Now, Log: p.Log}
}

// finish sends the answer, if there is one and it has not gone yet, and
// marks the reply processed. A failed answer is retried a few times; after
// that it is recorded and the reply is done all the same.
func (p *Processor) finish(ctx context.Context, log *slog.Logger, rec aftercare.Reply, rev uint64, answer string, to sms.Message, attempt int) error {
	if answer != "" && rec.AnswerSID == "" {
		to.Body = answer
		sid, err := p.Sender.Send(ctx, to)
		switch {
		case err == nil:
			rec.Answer, rec.AnswerSID, rec.AnsweredAt, rec.AnswerError = answer, sid, p.Now(), ""
			p.Stats.Answers.Add(1)
		case !sms.IsPermanent(err) && attempt < p.AnswerAttempts:
			// Keep what is done so far; the retry starts from it.
			if _, serr := p.Store.SaveReply(ctx, rec, rev); serr != nil && !errors.Is(serr, natsjs.ErrConflict) {
				log.Warn("could not save reply before retrying its answer", "err", serr)
			}
			return jobs.Retry(time.Duration(attempt)*2*time.Second, fmt.Errorf("answer client: %w", err))
		default:
			rec.Answer, rec.AnswerError = answer, err.Error()
			log.Warn("could not answer client", "err", err)
		}
	}
	rec.ProcessedAt = p.Now()
	if _, err := p.Store.SaveReply(ctx, rec, rev); err != nil {
		if rec.AnswerSID != "" {
			log.Error("answered but could not record it; a retry may answer twice", "sid", rec.AnswerSID, "err", err)
		}
		return err
	}
	log.Info("reply handled", "keyword", rec.Keyword, "class", rec.Class, "escalation", rec.EscalationID, "answered", rec.AnswerSID != "")
	return nil
}

// client reads the record of the client who wrote, empty if there is none.
// One that cannot be decoded is set aside (dead-lettered, then deleted), so
// the text is still triaged, and a red flag escalated, as from a number
// with no session on file; the clinic still hears of it.
func (p *Processor) client(ctx context.Context, log *slog.Logger, clinic, phone string) (aftercare.ClientRecord, error) {
	c, setAside, err := p.Store.ReadableClient(ctx, clinic, phone)
	if errors.Is(err, aftercare.ErrNotFound) {
		return c, nil
	}
	if setAside {
		p.Stats.RecordsSetAside.Add(1)
		log.Error("client record could not be decoded: dead-lettered (deadletter.record.>) and replaced, the text is handled as from a number with no session")
	}
	return c, err
}

// DeadLetter stores a text given up on, and counts it: any text given up
// on may have been a client getting worse, so it pages (AftercareRepliesDeadLettered).
func (p *Processor) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	if err := p.Store.DeadLetter(ctx, "replies", strings.TrimPrefix(msg.Subject(), "replies."), msg.Data(), reason); err != nil {
		return err
	}
	p.Stats.DeadLettered.Add(1)
	return nil
}
