package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// UnknownClinic files texts sent to a number no clinic is configured with.
// Clinic ids are lowercase letters, digits and dashes, so none can clash.
const UnknownClinic = "_unknown"

func phoneKey(clinic, phone string) string {
	return clinic + "." + Token(strings.TrimPrefix(phone, "+"))
}

// ClinicOrUnknown names a clinic in subjects and keys, UnknownClinic for none.
func ClinicOrUnknown(id string) string {
	if id == "" {
		return UnknownClinic
	}
	return id
}

// PublishInbound stores a client's text. It returns once JetStream holds it;
// a webhook replayed with the same MessageSid is stored only once.
func (s *Store) PublishInbound(ctx context.Context, in aftercare.InboundSMS) (duplicate bool, err error) {
	return s.publishJSON(ctx, "replies."+ClinicOrUnknown(in.ClinicID), "reply."+Token(in.MessageSID), in)
}

// PublishDelivery stores a delivery status from Twilio.
func (s *Store) PublishDelivery(ctx context.Context, st aftercare.DeliveryStatus) error {
	_, err := s.publishJSON(ctx, "delivery."+st.ClinicID, "delivery."+Token(st.MessageSID)+"."+Token(st.Status), st)
	return err
}

// PublishEscalation announces an escalation on escalations.<clinic>; the
// notifier consumes it, and a clinic's own systems may subscribe too.
func (s *Store) PublishEscalation(ctx context.Context, e aftercare.Escalation) error {
	_, err := s.publishJSON(ctx, "escalations."+e.ClinicID, "escalation."+Token(e.ID), e)
	return err
}

func (s *Store) publishJSON(ctx context.Context, subject, msgID string, v any) (bool, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", subject, err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("store %s: %w", subject, err)
	}
	return ack.Duplicate, nil
}

// Reply returns the record of an inbound text, or aftercare.ErrNotFound.
func (s *Store) Reply(ctx context.Context, clinic, messageSID string) (aftercare.Reply, uint64, error) {
	return getJSON[aftercare.Reply](ctx, s, s.replies, ClinicOrUnknown(clinic)+"."+Token(messageSID))
}

// SaveReply writes the record of an inbound text if still at revision rev.
func (s *Store) SaveReply(ctx context.Context, r aftercare.Reply, rev uint64) (uint64, error) {
	return saveJSON(ctx, s.replies, ClinicOrUnknown(r.ClinicID)+"."+Token(r.MessageSID), r, rev)
}

// Replies returns a clinic's reply records, newest first. The clinic is
// part of every key, so one clinic never lists another's; the bucket's
// retention bounds how many there are.
func (s *Store) Replies(ctx context.Context, clinic string) ([]aftercare.Reply, error) {
	lister, err := s.replies.ListKeysFiltered(ctx, ClinicOrUnknown(clinic)+".>")
	if err != nil {
		return nil, fmt.Errorf("list replies: %w", err)
	}
	defer lister.Stop()
	var out []aftercare.Reply
	for key := range lister.Keys() {
		r, _, err := getJSON[aftercare.Reply](ctx, s, s.replies, key)
		if errors.Is(err, aftercare.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b aftercare.Reply) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	return out, ctx.Err()
}

// UpdateReply applies change to a reply record and writes it, reading
// again if it changed meanwhile; change returns false to leave it, or an
// error to abandon. A missing record is aftercare.ErrNotFound.
func (s *Store) UpdateReply(ctx context.Context, clinic, messageSID string, change func(*aftercare.Reply) (bool, error)) (aftercare.Reply, error) {
	return update(ctx, s, s.replies, ClinicOrUnknown(clinic)+"."+Token(messageSID), false, change)
}

// Client returns what we know of a clinic's client, or aftercare.ErrNotFound.
func (s *Store) Client(ctx context.Context, clinic, phone string) (aftercare.ClientRecord, uint64, error) {
	return getJSON[aftercare.ClientRecord](ctx, s, s.clients, phoneKey(clinic, phone))
}

// UpdateClient applies change to a client's record (a new one if there is
// none) and writes it, reading again if it changed meanwhile. change
// returns false to leave the record as it is.
func (s *Store) UpdateClient(ctx context.Context, clinic, phone string, now time.Time, change func(*aftercare.ClientRecord) bool) error {
	_, err := update(ctx, s, s.clients, phoneKey(clinic, phone), true, func(rec *aftercare.ClientRecord) (bool, error) {
		rec.ClinicID, rec.Phone = clinic, phone
		if !change(rec) {
			return false, nil
		}
		rec.UpdatedAt = now
		return true, nil
	})
	return err
}

// NoteClientSession records a client's session for linking replies: added
// or moved, or marked cancelled.
func (s *Store) NoteClientSession(ctx context.Context, clinic, phone string, cs aftercare.ClientSession, now time.Time) error {
	return s.UpdateClient(ctx, clinic, phone, now, func(rec *aftercare.ClientRecord) bool {
		i := slices.IndexFunc(rec.Sessions, func(o aftercare.ClientSession) bool { return o.SessionID == cs.SessionID })
		if i >= 0 && rec.Sessions[i] == cs {
			return false
		}
		if i >= 0 {
			rec.Sessions = slices.Delete(rec.Sessions, i, i+1)
		}
		rec.Sessions = append(rec.Sessions, cs)
		slices.SortStableFunc(rec.Sessions, func(a, b aftercare.ClientSession) int { return a.End.Compare(b.End) })
		if len(rec.Sessions) > aftercare.MaxClientSessions {
			rec.Sessions = rec.Sessions[len(rec.Sessions)-aftercare.MaxClientSessions:]
		}
		return true
	})
}

func escalationKey(clinic, id string) string { return clinic + "." + Token(id) }

// Escalation returns an escalation of a clinic, or aftercare.ErrNotFound.
// The clinic is part of the key, so one clinic cannot read another's.
func (s *Store) Escalation(ctx context.Context, clinic, id string) (aftercare.Escalation, uint64, error) {
	return getJSON[aftercare.Escalation](ctx, s, s.escalations, escalationKey(clinic, id))
}

// SaveEscalation writes an escalation if it is still at revision rev (0: new).
func (s *Store) SaveEscalation(ctx context.Context, e aftercare.Escalation, rev uint64) (uint64, error) {
	return saveJSON(ctx, s.escalations, escalationKey(e.ClinicID, e.ID), e, rev)
}

// UpdateEscalation applies change to an escalation and writes it, reading
// again if it changed meanwhile; change returns an error to abandon. It
// returns the escalation as it now stands.
func (s *Store) UpdateEscalation(ctx context.Context, clinic, id string, change func(*aftercare.Escalation) error) (aftercare.Escalation, error) {
	return update(ctx, s, s.escalations, escalationKey(clinic, id), false, func(e *aftercare.Escalation) (bool, error) {
		return true, change(e)
	})
}

// Escalations returns a clinic's escalations, newest first.
func (s *Store) Escalations(ctx context.Context, clinic string) ([]aftercare.Escalation, error) {
	lister, err := s.escalations.ListKeysFiltered(ctx, clinic+".>")
	if err != nil {
		return nil, fmt.Errorf("list escalations: %w", err)
	}
	defer lister.Stop()
	var out []aftercare.Escalation
	for key := range lister.Keys() {
		e, _, err := getJSON[aftercare.Escalation](ctx, s, s.escalations, key)
		if errors.Is(err, aftercare.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b aftercare.Escalation) int { return b.RaisedAt.Compare(a.RaisedAt) })
	return out, ctx.Err()
}

// UpdateSession applies change to a session record and writes it, reading
// again if it changed meanwhile.
func (s *Store) UpdateSession(ctx context.Context, clinic, session string, change func(*aftercare.Session) bool) error {
	_, err := update(ctx, s, s.sessions, sessionKey(clinic, session), false, func(rec *aftercare.Session) (bool, error) {
		return change(rec), nil
	})
	return err
}

// CancelFollowUps removes a session's timers and marks each unfinished
// follow-up of steps 1..steps cancelled with the reason, and of any later
// step that has a record: a plan made by a scheduler configured with more
// steps than this program is held all the same. It returns how many it
// marked; running it again marks none.
func (s *Store) CancelFollowUps(ctx context.Context, clinic, session string, steps int, reason string, now time.Time) (int, error) {
	if err := s.CancelSchedules(ctx, clinic, session); err != nil {
		return 0, err
	}
	n := 0
	for step, found := 1, true; step <= steps || found; step++ {
		found = false
		for {
			f, rev, err := s.FollowUp(ctx, clinic, session, aftercare.Step(step))
			if errors.Is(err, aftercare.ErrNotFound) {
				break
			}
			found = true
			if err != nil {
				return n, err
			}
			if f.Status.Final() {
				break
			}
			f.Status, f.Reason, f.UpdatedAt = aftercare.FollowUpCancelled, reason, now
			if _, err := s.SaveFollowUp(ctx, f, rev); errors.Is(err, ErrConflict) {
				continue
			} else if err != nil {
				return n, err
			}
			n++
			break
		}
	}
	return n, nil
}

// UpdateFollowUp applies change to a follow-up record and writes it,
// reading again if it changed meanwhile.
func (s *Store) UpdateFollowUp(ctx context.Context, clinic, session string, step aftercare.Step, change func(*aftercare.FollowUp) bool) error {
	_, err := update(ctx, s, s.followUps, followUpKey(clinic, session, step), false, func(f *aftercare.FollowUp) (bool, error) {
		return change(f), nil
	})
	return err
}

// update is read-change-write with compare-and-set: when another writer got
// there first, it reads again and re-applies change. change reports
// whether to write; an error from it abandons the update. create allows a
// missing record (change gets a zero value); otherwise it is ErrNotFound.
func update[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, key string, create bool, change func(*T) (bool, error)) (T, error) {
	for range 10 {
		v, rev, err := getJSON[T](ctx, s, kv, key)
		if err != nil && !(create && errors.Is(err, aftercare.ErrNotFound)) {
			return v, err
		}
		write, err := change(&v)
		if err != nil || !write {
			return v, err
		}
		if _, err = saveJSON(ctx, kv, key, v, rev); !errors.Is(err, ErrConflict) {
			return v, err
		}
	}
	var zero T
	return zero, fmt.Errorf("update %s %s: %w", kv.Bucket(), keyForLogs(kv.Bucket(), key), ErrConflict)
}

// ReadableClient reads a client's record like Client, except that a record
// that cannot be decoded is set aside: its bytes are dead-lettered (kind
// "record", with the reason) and the key deleted, and the client reads as
// one with no record. A client's text must still be triaged and, if it is
// a red flag, escalated; a record nobody can read would otherwise hold
// every text from that number until it is given up. set is true when a
// record was set aside.
func (s *Store) ReadableClient(ctx context.Context, clinic, phone string) (rec aftercare.ClientRecord, set bool, err error) {
	rec, _, err = s.Client(ctx, clinic, phone)
	if !errors.Is(err, ErrCorrupt) {
		return rec, false, err
	}
	key := phoneKey(clinic, phone)
	raw, rev, getErr := s.get(ctx, s.clients, key)
	if getErr != nil {
		return aftercare.ClientRecord{}, false, fmt.Errorf("set aside client record: %w", getErr)
	}
	if err := s.DeadLetter(ctx, "record", BucketClients+"."+clinic, raw, err.Error()); err != nil {
		return aftercare.ClientRecord{}, false, err
	}
	if err := s.clients.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return aftercare.ClientRecord{}, false, fmt.Errorf("set aside client record: %w", err)
	}
	return aftercare.ClientRecord{}, true, nil
}
