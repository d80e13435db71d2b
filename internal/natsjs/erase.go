package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// What erasure and retention need: find one client's records, and remove
// them so that nothing of them is left, history and markers included. A key
// deleted by the key-value API leaves a delete or purge marker whose subject
// is the key, and the clients' keys are their numbers; so EraseKeys also
// purges the key's subject from the bucket's stream.

// SessionKey is a session record's key; its follow-ups' keys start with it.
func SessionKey(clinic, session string) string { return sessionKey(clinic, session) }

// ClientKey is a client record's key (the number without its "+").
func ClientKey(clinic, phone string) string { return phoneKey(clinic, phone) }

// ConsentKey is a client's consent record's key in its bucket.
func ConsentKey(clinic, phone string) string { return phoneKey(clinic, phone) }

// OptOutKey is the key of a client's opt-out or failing mark.
func OptOutKey(clinic, phone string) string { return optOutKey(clinic, phone) }

// EscalationKey is an escalation record's key.
func EscalationKey(clinic, id string) string { return escalationKey(clinic, id) }

// ReplyKey is an inbound text's record key.
func ReplyKey(clinic, messageSID string) string {
	return ClinicOrUnknown(clinic) + "." + Token(messageSID)
}

// OptOutValue is a client's opt-out record as stored ("" when none): the
// time of the opt-out, or "failing: ..." for a number whose texts fail.
func (s *Store) OptOutValue(ctx context.Context, clinic, phone string) (string, error) {
	v, _, err := s.get(ctx, s.optOuts, optOutKey(clinic, phone))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read opt-out: %w", err)
	}
	return string(v), nil
}

// IsFailingMark reports whether an opt-out value is a failing mark, not a
// client's own opt-out.
func IsFailingMark(value string) bool { return strings.HasPrefix(value, failingPrefix) }

// EraseOptOutKey erases a number's opt-out key with its history (a failing
// mark, the delete markers a START or a cleared mark left) unless it holds
// the client's own opt-out, which an erasure keeps so that a STOP goes on
// working. It decides on the key's last message as it stands now, not on
// what was read earlier, and purges only up to that message: a STOP
// recorded meanwhile is newer, and stays. (On a replicated bucket a replica
// may answer with an older message; the purge then takes less, never a
// newer STOP.) optedOut reports a kept opt-out; erasedMark, a failing mark
// removed.
func (s *Store) EraseOptOutKey(ctx context.Context, clinic, phone string) (optedOut, erasedMark bool, err error) {
	key := optOutKey(clinic, phone)
	subject := "$KV." + BucketOptOuts + "." + key
	stream, err := s.js.Stream(ctx, "KV_"+BucketOptOuts)
	if err != nil {
		return false, false, fmt.Errorf("erase opt-out key: %w", err)
	}
	last, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("erase opt-out key %s: %w", keyForLogs(BucketOptOuts, key), err)
	}
	value := last.Header.Get("KV-Operation") == ""
	if value && !IsFailingMark(string(last.Data)) {
		return true, false, nil
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(last.Sequence+1)); err != nil {
		return false, false, fmt.Errorf("erase opt-out key %s: %w", keyForLogs(BucketOptOuts, key), err)
	}
	return false, value, nil
}

// ClientSessions returns a clinic's session records whose client is phone.
// It reads every session key of the clinic: the sessions bucket's TTL bounds
// how many there are, and this runs only on a clinic's request.
func (s *Store) ClientSessions(ctx context.Context, clinic, phone string) ([]aftercare.Session, error) {
	keys, err := s.Keys(ctx, BucketSessions, clinic+".*")
	if err != nil {
		return nil, err
	}
	var out []aftercare.Session
	for _, key := range keys {
		rec, _, err := getJSON[aftercare.Session](ctx, s, s.sessions, key)
		if errors.Is(err, aftercare.ErrNotFound) || errors.Is(err, ErrCorrupt) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec.Client.Phone == phone {
			out = append(out, rec)
		}
	}
	return out, nil
}

// TimerPending reports whether a follow-up's timer (its plan's, or one a
// worker deferred it to) is still waiting to fire.
func (s *Store) TimerPending(ctx context.Context, d aftercare.DueFollowUp) (bool, error) {
	schedSubject, _ := dueSubjects(d)
	for _, timer := range []string{schedSubject, deferredSubject(d)} {
		_, _, err := lastBySubject(ctx, s.js, StreamFollowUps, timer, "follow-up timer")
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, fmt.Errorf("look up the timer: %w", err)
		}
	}
	return false, nil
}

func (s *Store) bucket(name string) (jetstream.KeyValue, error) {
	for _, kv := range []jetstream.KeyValue{s.sessions, s.followUps, s.optOuts, s.clients, s.replies, s.escalations, s.sendSlots, s.limits, s.staff, s.staffSessions, s.inbox, s.consent, s.auditIDs, s.erasureJobs, s.erasing} {
		if kv != nil && kv.Bucket() == name {
			return kv, nil
		}
	}
	return nil, fmt.Errorf("no bucket %s", name)
}

// Keys lists a bucket's keys matching filter (NATS wildcards).
func (s *Store) Keys(ctx context.Context, bucket, filter string) ([]string, error) {
	kv, err := s.bucket(bucket)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeysFiltered(ctx, filter)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s keys: %w", bucket, err)
	}
	defer lister.Stop()
	var out []string
	for key := range lister.Keys() {
		out = append(out, key)
	}
	return out, ctx.Err()
}

// EraseKeys deletes keys from a bucket with their history: the key-value
// purge (so watchers see it go), then a purge of the key's subject from the
// bucket's stream, which takes the purge marker, and with it the key, too.
func (s *Store) EraseKeys(ctx context.Context, bucket string, keys ...string) error {
	kv, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	stream, err := s.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return fmt.Errorf("erase from %s: %w", bucket, err)
	}
	for _, key := range keys {
		if err := kv.Purge(ctx, key); err != nil {
			return fmt.Errorf("erase %s %s: %w", bucket, keyForLogs(bucket, key), err)
		}
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bucket+"."+key)); err != nil {
			return fmt.Errorf("erase %s %s: %w", bucket, keyForLogs(bucket, key), err)
		}
	}
	return nil
}

// PurgeSubjects removes every message of a stream on subjects matching
// each filter: for records whose subject names the client.
func (s *Store) PurgeSubjects(ctx context.Context, streamName string, filters ...string) error {
	stream, err := s.js.Stream(ctx, streamName)
	if err != nil {
		return fmt.Errorf("purge %s: %w", streamName, err)
	}
	for _, f := range filters {
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject(f)); err != nil {
			return fmt.Errorf("purge %s %s: %w", streamName, f, err)
		}
	}
	return nil
}

// StreamMsg is one message of a stream, as EachMessage reads it.
type StreamMsg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
	At      time.Time
}

// EachMessage calls fn for every message of a stream on subjects matching
// filter, oldest first, reading in batches so memory stays flat.
func (s *Store) EachMessage(ctx context.Context, streamName, filter string, fn func(StreamMsg) error) error {
	stream, err := s.js.Stream(ctx, streamName)
	if err != nil {
		return fmt.Errorf("read %s: %w", streamName, err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return fmt.Errorf("read %s: %w", streamName, err)
	}
	remaining := cons.CachedInfo().NumPending
	for remaining > 0 {
		batch, err := cons.Fetch(int(min(remaining, 512)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", streamName, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			m := StreamMsg{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data()}
			if meta, err := msg.Metadata(); err == nil {
				m.Seq, m.At = meta.Sequence.Stream, meta.Timestamp
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read %s: %w", streamName, err)
		}
		if n == 0 {
			break // the rest expired or was deleted meanwhile
		}
		remaining -= min(remaining, uint64(n))
	}
	return ctx.Err()
}

// EraseMessages deletes, and overwrites on disk, every message of a stream
// on subjects matching filter for which match is true: for records that
// name the client only in their body. It returns how many it erased.
func (s *Store) EraseMessages(ctx context.Context, streamName, filter string, match func(StreamMsg) bool) (int, error) {
	var seqs []uint64
	err := s.EachMessage(ctx, streamName, filter, func(m StreamMsg) error {
		if match(m) {
			seqs = append(seqs, m.Seq)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(seqs), s.EraseSeqs(ctx, streamName, seqs...)
}

// EraseSeqs deletes, and overwrites on disk, messages of a stream by
// sequence; one already gone is no error.
func (s *Store) EraseSeqs(ctx context.Context, streamName string, seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	stream, err := s.js.Stream(ctx, streamName)
	if err != nil {
		return fmt.Errorf("erase from %s: %w", streamName, err)
	}
	for _, seq := range seqs {
		// A message that expired meanwhile answers "no message found".
		if err := stream.SecureDeleteMsg(ctx, seq); err != nil && !strings.Contains(err.Error(), "no message found") {
			return fmt.Errorf("erase %s message %d: %w", streamName, seq, err)
		}
	}
	return nil
}

// TwilioErasure is the job of deleting an erased client's messages from
// Twilio's logs: their SIDs only, no number and no text.
type TwilioErasure struct {
	ClinicID string   `json:"clinic_id"`
	SIDs     []string `json:"sids"`
}

// QueueTwilioErasure hands the worker, which holds the Twilio credentials,
// the messages to delete at Twilio.
func (s *Store) QueueTwilioErasure(ctx context.Context, job TwilioErasure) error {
	data, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encode Twilio erasure: %w", err)
	}
	if _, err := s.js.Publish(ctx, "erasure.twilio."+job.ClinicID, data); err != nil {
		return fmt.Errorf("queue Twilio erasure: %w", err)
	}
	return nil
}
