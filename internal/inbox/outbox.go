package inbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/tips"
)

// Outbound is a staff reply to a client: recorded when written, sent by
// the worker (the same checks as a tip: opt-out, failing number, the send
// window), with its delivery status.
type Outbound struct {
	ID             string           `json:"id"`
	ClinicID       string           `json:"clinic_id"`
	ConversationID string           `json:"conversation_id"`
	To             string           `json:"to"`
	Body           string           `json:"body"`
	Author         aftercare.Author `json:"author"`
	CreatedAt      time.Time        `json:"created_at"`
	// Status: queued, waiting (the send window is closed), sending, sent,
	// then Twilio's (delivered, undelivered, failed), or not_sent.
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	ClaimedAt time.Time `json:"claimed_at,omitzero"`
	// Attempts counts sends tried; kept on the record because a reply
	// that waits on a timer comes back as a new message, whose delivery
	// count starts again at one.
	Attempts   int       `json:"attempts,omitempty"`
	SID        string    `json:"sid,omitempty"`
	SentAt     time.Time `json:"sent_at,omitzero"`
	DeliveryAt time.Time `json:"delivery_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// MaxReplyLength bounds a staff reply: a few segments, not a letter.
const MaxReplyLength = 640

// KindStaffReply names a staff reply in status callbacks.
const KindStaffReply = "staff_reply"

func outboundKey(clinic, conv, id string) string { return natsjs.OutboundKey(clinic, conv, id) }

// outboxJob is what the worker's outbox consumer takes.
type outboxJob struct {
	ClinicID       string `json:"clinic_id"`
	ConversationID string `json:"conversation_id"`
	ID             string `json:"id"`
}

// ReplyError is a reply that cannot be sent as written.
type ReplyError struct{ Reason string }

func (e *ReplyError) Error() string { return e.Reason }

// Reply records a staff reply and hands it to the worker to send.
//
// nonce, from the form, makes sending it again (a double click, a resent
// form) queue nothing more: it becomes the reply's id. Empty: a new id.
func (st *Store) Reply(ctx context.Context, conv Conversation, body string, by aftercare.Author, now time.Time, nonce ...string) (Outbound, error) {
	body = strings.TrimSpace(body)
	if body == "" || utf8.RuneCountInString(body) > MaxReplyLength || !utf8.ValidString(body) {
		return Outbound{}, &ReplyError{fmt.Sprintf("a reply must be 1-%d characters", MaxReplyLength)}
	}
	id := fmt.Sprintf("r%d", now.UnixNano())
	if len(nonce) > 0 && validNonce(nonce[0]) {
		id = "n" + nonce[0]
	}
	o := Outbound{ID: id, ClinicID: conv.ClinicID, ConversationID: conv.ID, To: conv.Phone,
		Body: body, Author: by, CreatedAt: now, Status: "queued", UpdatedAt: now}
	if _, err := natsjs.SaveRecord(ctx, st.S.InboxBucket(), outboundKey(o.ClinicID, o.ConversationID, o.ID), o, 0); errors.Is(err, natsjs.ErrConflict) {
		// The same form sent again: that reply is queued already.
		prev, _, err := natsjs.GetRecord[Outbound](ctx, st.S, st.S.InboxBucket(), outboundKey(o.ClinicID, o.ConversationID, o.ID))
		return prev, err
	} else if err != nil {
		return Outbound{}, err
	}
	data, _ := json.Marshal(outboxJob{ClinicID: o.ClinicID, ConversationID: o.ConversationID, ID: o.ID})
	msg := nats.NewMsg("outbox." + o.ClinicID)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, o.ClinicID+"."+o.ID)
	if _, err := st.S.JetStream().PublishMsg(ctx, msg); err != nil {
		return Outbound{}, fmt.Errorf("queue staff reply: %w", err)
	}
	return o, nil
}

// validNonce: 16-64 letters and digits, as NewNonce makes them.
func validNonce(n string) bool {
	if len(n) < 16 || len(n) > 64 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// NewNonce is a reply form's one-time id.
func NewNonce() string { return rand.Text() }

// ConfirmationID is the id of the confirmation text in a conversation: one
// per client and clinic, so a redelivered event queues it once. The store
// names it, as the planner's undo for an erasure removes it there.
const ConfirmationID = natsjs.ConfirmationID

// Confirm queues the confirmation text of a client's first session (the
// clinic's confirm_first_text) on the staff replies' path, so the worker
// sends it as it sends them: not to a client who opted out or whose number
// fails, inside the send window in the client's zone, in a slot of the
// clinic's sender rate. It shows in the conversation as the clinic's.
func (st *Store) Confirm(ctx context.Context, clinic *clinics.Clinic, client aftercare.Client, now time.Time) error {
	body, err := tips.RenderAnswer(tips.AnswerConfirmation, tips.Fields{Clinic: clinic.Name, Contact: clinic.ContactPhone}, client.Locale, clinic.Locale)
	if err != nil {
		return err
	}
	conv := ConversationID(clinic.ID, client.Phone)
	o := Outbound{ID: ConfirmationID, ClinicID: clinic.ID, ConversationID: conv, To: client.Phone, Body: body,
		Author: aftercare.Author{Kind: aftercare.AuthorSystem, Name: "first-session confirmation"}, CreatedAt: now, Status: "queued", UpdatedAt: now}
	_, err = natsjs.SaveRecord(ctx, st.S.InboxBucket(), outboundKey(o.ClinicID, conv, o.ID), o, 0)
	if err != nil && !errors.Is(err, natsjs.ErrConflict) {
		return err
	}
	// Queued before (a redelivered event): publish again, de-duplicated by
	// its id; a job for a text already sent does nothing.
	data, _ := json.Marshal(outboxJob{ClinicID: o.ClinicID, ConversationID: conv, ID: o.ID})
	msg := nats.NewMsg("outbox." + o.ClinicID)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, o.ClinicID+"."+conv+"."+o.ID)
	if _, err := st.S.JetStream().PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("queue confirmation text: %w", err)
	}
	return nil
}

// Defer takes a staff reply that must wait (the clinic's send window is
// closed) out of the outbox consumer: a JetStream timer, one per reply,
// puts its job back on outbox.<clinic> at until.
func (st *Store) Defer(ctx context.Context, msg jetstream.Msg, until time.Time) error {
	var job outboxJob
	if err := json.Unmarshal(msg.Data(), &job); err != nil {
		return err
	}
	timer := nats.NewMsg("outbox_schedule." + job.ClinicID + "." + job.ConversationID + "." + job.ID)
	timer.Data = msg.Data()
	timer.Header.Set(jetstream.ScheduleHeader, "@at "+until.UTC().Format(time.RFC3339Nano))
	timer.Header.Set(jetstream.ScheduleTargetHeader, "outbox."+job.ClinicID)
	if _, err := st.S.JetStream().PublishMsg(ctx, timer); err != nil {
		return fmt.Errorf("defer staff reply %s: %w", job.ID, err)
	}
	return nil
}

// Outbound returns a conversation's staff replies, oldest first.
func (st *Store) Outbound(ctx context.Context, clinic, conv string) ([]Outbound, error) {
	kv := st.S.InboxBucket()
	lister, err := kv.ListKeysFiltered(ctx, outboundKey(clinic, conv, "*"))
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list staff replies: %w", err)
	}
	defer lister.Stop()
	var out []Outbound
	for key := range lister.Keys() {
		o, _, err := natsjs.GetRecord[Outbound](ctx, st.S, kv, key)
		if errors.Is(err, aftercare.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Outbound) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (st *Store) updateOutbound(ctx context.Context, clinic, conv, id string, change func(*Outbound) (bool, error)) (Outbound, error) {
	return natsjs.UpdateRecord(ctx, st.S, st.S.InboxBucket(), outboundKey(clinic, conv, id), false, change)
}

// Sender is the worker's handler of staff replies.
type Sender struct {
	Store *Store
	SMS   sms.Sender
	// Pacer is the senders' shared rate (the worker's sendrate ledger):
	// a staff reply takes a slot of the clinic's number like a tip does.
	Pacer Pacer
	// StatusCallback is where Twilio reports delivery; may be empty.
	StatusCallback string
	Now            func() time.Time
	Log            *slog.Logger
}

// maxReplyAttempts is how many sends a staff reply gets before it is marked
// failed, with the error, for the person who wrote it to see.
const maxReplyAttempts = 8

// Pacer hands out send slots per sender (see dispatch.Pacer).
type Pacer interface {
	Reserve(ctx context.Context, sender string) (wait time.Duration, ok bool, err error)
}

var errSettled = errors.New("already settled")

// Handle is the jobs.Handler for the outbox consumer.
func (s *Sender) Handle(ctx context.Context, msg jetstream.Msg) error {
	job, attempt, err := jobs.Decode[outboxJob](msg, "staff reply")
	if err != nil {
		return err
	}
	return s.Send(ctx, job.ClinicID, job.ConversationID, job.ID, attempt)
}

// Send sends one staff reply unless the client opted out or the number is
// failing; outside the clinic's send window (read in the client's zone) it
// waits for the next opening, as a tip does.
func (s *Sender) Send(ctx context.Context, clinicID, conv, id string, attempt int) error {
	clinic, ok := s.Store.Clinics.Lookup(clinicID)
	if !ok {
		return jobs.GiveUp(fmt.Errorf("staff reply for unknown clinic %q", clinicID))
	}
	o, _, err := natsjs.GetRecord[Outbound](ctx, s.Store.S, s.Store.S.InboxBucket(), outboundKey(clinicID, conv, id))
	if errors.Is(err, aftercare.ErrNotFound) {
		return jobs.GiveUp(fmt.Errorf("staff reply %s: no record", id))
	}
	if err != nil {
		return err
	}
	log := s.Log.With("clinic", clinicID, "reply", id, "to", aftercare.MaskPhone(o.To))
	switch o.Status {
	case "queued", "waiting", "sending":
	default:
		return nil // sent or refused already: a redelivery
	}
	now := s.Now()
	if reason, err := s.Store.S.DoNotText(ctx, clinicID, o.To); err != nil {
		return err
	} else if reason != "" {
		_, err := s.settle(ctx, o, "not_sent", "not sent: "+reason)
		log.Info("staff reply not sent", "reason", reason)
		return err
	}
	loc := clinic.Location
	if client, _, err := s.Store.S.Client(ctx, clinicID, o.To); err == nil {
		if latest, ok := client.LatestSession(); ok {
			if sess, _, err := s.Store.S.Session(ctx, clinicID, latest.SessionID); err == nil {
				loc = clinic.ClientLocation(sess.Client.TimeZone)
			}
		}
	}
	if next := clinic.Window.Next(now, loc); next.After(now) {
		if o.Status != "waiting" {
			_, _ = s.Store.updateOutbound(ctx, clinicID, conv, id, func(r *Outbound) (bool, error) {
				r.Status, r.Reason, r.UpdatedAt = "waiting", "quiet hours: sends at "+next.In(loc).Format("Mon 15:04 MST"), now
				return true, nil
			})
		}
		return jobs.Snooze(next.Sub(now), "the clinic's send window is closed")
	}
	if s.Pacer != nil {
		wait, ok, err := s.Pacer.Reserve(ctx, clinic.Sender.Key())
		switch {
		case err != nil:
			return err
		case !ok:
			return jobs.Snooze(wait, "sender rate limit")
		case wait > 0:
			select {
			case <-ctx.Done():
				return jobs.Snooze(time.Second, "shutting down")
			case <-time.After(wait):
			}
			// A STOP may have come in while the reply waited for its slot.
			if reason, err := s.Store.S.DoNotText(ctx, clinicID, o.To); err != nil {
				return err
			} else if reason != "" {
				_, err := s.settle(ctx, o, "not_sent", "not sent: "+reason)
				return err
			}
		}
	}
	m := sms.Message{To: o.To, From: clinic.Sender.From, MessagingServiceSID: clinic.Sender.MessagingServiceSID, Body: o.Body}
	if s.StatusCallback != "" {
		q := url.Values{"kind": {KindStaffReply}, "clinic": {clinicID}, "outbound": {conv + "." + id}}
		m.StatusCallback = s.StatusCallback + "?" + q.Encode()
	}
	var sid string
	if o.Status == "sending" {
		// An earlier attempt may have reached Twilio unrecorded.
		if sid, err = sms.FindSent(ctx, log, s.SMS, m, o.ClaimedAt); err != nil {
			// Twilio cannot say whether it went: a try all the same.
			o, uerr := s.Store.updateOutbound(ctx, clinicID, conv, id, func(r *Outbound) (bool, error) {
				r.Attempts++
				return true, nil
			})
			if uerr == nil && o.Attempts >= maxReplyAttempts {
				_, serr := s.settle(ctx, o, "failed", "could not reach Twilio: "+err.Error())
				return serr
			}
			return jobs.Retry(5*time.Second, err)
		}
	}
	if o, err = s.Store.updateOutbound(ctx, clinicID, conv, id, func(r *Outbound) (bool, error) {
		if r.Status != "queued" && r.Status != "waiting" && r.Status != "sending" {
			return false, errSettled
		}
		r.Status, r.Reason, r.ClaimedAt, r.UpdatedAt = "sending", "", now, now
		r.Attempts++
		return true, nil
	}); errors.Is(err, errSettled) {
		return nil
	} else if err != nil {
		return err
	}
	if sid == "" {
		sid, err = s.SMS.Send(ctx, m)
	}
	switch {
	case err == nil:
		_, err = s.Store.updateOutbound(ctx, clinicID, conv, id, func(r *Outbound) (bool, error) {
			if r.SID == "" {
				r.SID, r.SentAt = sid, s.Now()
			}
			if r.Status == "sending" {
				r.Status = "sent"
			}
			r.UpdatedAt = s.Now()
			return true, nil
		})
		log.Info("staff reply sent", "sid", sid)
		return err
	case sms.IsPermanent(err) || o.Attempts >= maxReplyAttempts:
		_, serr := s.settle(ctx, o, "failed", err.Error())
		log.Warn("staff reply failed", "err", err)
		return serr
	default:
		return jobs.Retry(time.Duration(attempt)*2*time.Second, fmt.Errorf("send staff reply: %w", err))
	}
}

func (s *Sender) settle(ctx context.Context, o Outbound, status, reason string) (Outbound, error) {
	return s.Store.updateOutbound(ctx, o.ClinicID, o.ConversationID, o.ID, func(r *Outbound) (bool, error) {
		r.Status, r.Reason, r.UpdatedAt = status, reason, s.Now()
		return true, nil
	})
}

// RecordStatus applies Twilio's delivery status of a staff reply; a late
// "sent" never overwrites "delivered".
func (st *Store) RecordStatus(ctx context.Context, ds aftercare.DeliveryStatus) error {
	conv, id, ok := strings.Cut(ds.Outbound, ".")
	if !ok {
		return jobs.GiveUp(fmt.Errorf("status for staff reply %q: not conversation.id", ds.Outbound))
	}
	_, err := st.updateOutbound(ctx, ds.ClinicID, conv, id, func(r *Outbound) (bool, error) {
		if r.SID != ds.MessageSID && r.SID != "" {
			return false, nil
		}
		if rank(ds.Status) < rank(r.Status) {
			return false, nil
		}
		r.Status, r.DeliveryAt, r.UpdatedAt = ds.Status, ds.ReceivedAt, ds.ReceivedAt
		if ds.ErrorCode != "" {
			r.Reason = "Twilio error " + ds.ErrorCode
		}
		return true, nil
	})
	return err
}

func rank(status string) int {
	switch status {
	case "queued", "waiting", "accepted", "scheduled":
		return 1
	case "sending":
		return 2
	case "sent":
		return 3
	case "delivered", "undelivered", "failed", "canceled", "not_sent":
		return 4
	case "read":
		return 5
	}
	return 0
}
