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

// ErasureJobRetention is how long a finished erasure's answer can be read
// back; the job holds no number by then.
const ErasureJobRetention = 90 * 24 * time.Hour

// ErasureJobsBucket returns the bucket of erasure jobs, for the erasure
// package's records.
func (s *Store) ErasureJobsBucket() jetstream.KeyValue { return s.erasureJobs }

// ErasureJobKey is an erasure job's key.
func ErasureJobKey(clinic, id string) string { return clinic + "." + Token(id) }

// ErasingKey is the key of a client's tombstone while their erasure runs.
func ErasingKey(clinic, phone string) string { return phoneKey(clinic, phone) }

// Erasing returns the id of the erasure under way of a client, or "".
func (s *Store) Erasing(ctx context.Context, clinic, phone string) (string, error) {
	value, _, err := s.get(ctx, s.erasing, ErasingKey(clinic, phone))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read erasure tombstone %s: %w", keyForLogs(BucketErasing, ErasingKey(clinic, phone)), err)
	}
	return string(value), nil
}

// SetErasing puts up a client's tombstone, naming their erasure job; it
// returns the job already named when there is one.
func (s *Store) SetErasing(ctx context.Context, clinic, phone, job string) (string, error) {
	key := ErasingKey(clinic, phone)
	if _, err := s.erasing.Create(ctx, key, []byte(job)); errors.Is(err, jetstream.ErrKeyExists) {
		return s.Erasing(ctx, clinic, phone)
	} else if err != nil {
		return "", fmt.Errorf("write erasure tombstone %s: %w", keyForLogs(BucketErasing, key), err)
	}
	return job, nil
}

// ClearErasing takes a client's tombstone down, with its history (its key
// holds the number).
func (s *Store) ClearErasing(ctx context.Context, clinic, phone string) error {
	return s.EraseKeys(ctx, BucketErasing, ErasingKey(clinic, phone))
}

// ClearErasingOf takes a client's tombstone down only if it still names
// job: a sweep that read it must not take down the tombstone of an erasure
// requested since. cleared is false when it names another job, or none.
// The key's history goes too, as ClearErasing's, but only up to the purge
// this writes: a tombstone put up after it stays.
func (s *Store) ClearErasingOf(ctx context.Context, clinic, phone, job string) (cleared bool, err error) {
	key := ErasingKey(clinic, phone)
	value, rev, err := s.get(ctx, s.erasing, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read erasure tombstone %s: %w", keyForLogs(BucketErasing, key), err)
	}
	if string(value) != job {
		return false, nil
	}
	subject := "$KV." + BucketErasing + "." + key
	purge := nats.NewMsg(subject)
	purge.Header.Set("KV-Operation", "PURGE")
	purge.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	ack, err := s.js.PublishMsg(ctx, purge, jetstream.WithExpectLastSequencePerSubject(rev))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return false, nil // changed since it was read: not ours to take down
	}
	if err != nil {
		return false, fmt.Errorf("take down erasure tombstone %s: %w", keyForLogs(BucketErasing, key), err)
	}
	stream, err := s.js.Stream(ctx, "KV_"+BucketErasing)
	if err == nil {
		err = stream.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(ack.Sequence+1))
	}
	if err != nil {
		return true, fmt.Errorf("erase tombstone history %s: %w", keyForLogs(BucketErasing, key), err)
	}
	return true, nil
}

// InFlight names a stream and the consumer that works through it: an
// erasure waits until the consumer has finished what the stream held when
// the erasure began (see erasure.Jobs).
type InFlight struct{ Stream, Consumer string }

// ErasureWaitsFor are the consumers whose work an erasure must not race:
// the planner's session events and the worker's clients' texts, each of
// which writes records of a client it looked up before the tombstone went
// up.
var ErasureWaitsFor = []InFlight{{StreamSessions, ConsumerPlanner}, {StreamReplies, ConsumerReplies}}

// LastSeq is the sequence of the last message stored in stream.
func (s *Store) LastSeq(ctx context.Context, stream string) (uint64, error) {
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", stream, err)
	}
	return info.State.LastSeq, nil
}

// DoneThrough reports whether f's consumer has finished (acknowledged)
// every message of its stream up to seq; true when there is no such
// consumer (nothing works through the stream here).
func (s *Store) DoneThrough(ctx context.Context, f InFlight, seq uint64) (bool, error) {
	c, err := s.js.Consumer(ctx, f.Stream, f.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("consumer %s: %w", f.Consumer, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("consumer %s: %w", f.Consumer, err)
	}
	return info.AckFloor.Stream >= seq, nil
}

// QueueClientErasure hands a requested erasure to the scheduler's
// erasure runner; the message holds the job's id only.
func (s *Store) QueueClientErasure(ctx context.Context, clinic, job string) error {
	return s.queueClientErasure(ctx, clinic, job, "erase."+clinic+"."+Token(job))
}

// RequeueClientErasure queues a job again whose message is gone: under a
// message id of its own, so that JetStream does not take it for the first
// (its duplicate window remembers the first's).
func (s *Store) RequeueClientErasure(ctx context.Context, clinic, job string, at time.Time) error {
	return s.queueClientErasure(ctx, clinic, job, fmt.Sprintf("erase.%s.%s.%d", clinic, Token(job), at.UnixNano()))
}

func (s *Store) queueClientErasure(ctx context.Context, clinic, job, msgID string) error {
	msg := nats.NewMsg("erasure.client." + clinic)
	msg.Data = []byte(job)
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("queue erasure %s: %w", job, err)
	}
	return nil
}

// ClientEraseConsumer creates or updates the scheduler's consumer of
// requested erasures. An erasure in hand is kept alive with progress
// notes, so ackWait is how soon one cut short by a crash runs again.
func ClientEraseConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration) (jetstream.Consumer, error) {
	return workerConsumer(ctx, js, StreamErasure, ConsumerClientErase, "erasure.client.>", "Runs clients' erasures", ackWait, 4)
}

// EraseClientSession removes an event of a client whose erasure is under
// way (see planner.ApplyArrived): the message at seq in the sessions
// stream, when it is the clinic's event eventID; and, when the planner had
// written it, the session's timers, follow-ups and record, the first-session
// confirmation text it may have queued, and the client and consent records
// it may have made again.
func (s *Store) EraseClientSession(ctx context.Context, clinic, session, phone string, seq uint64, eventID string, written bool) error {
	if !written {
		return s.eraseEvent(ctx, clinic, seq, eventID)
	}
	// The erasure's passes may have ended before the planner queued it:
	// nothing else would stop the erased client being texted.
	if err := s.eraseConfirmation(ctx, clinic, phone); err != nil {
		return err
	}
	if err := s.ErasePlan(ctx, clinic, session); err != nil {
		return err
	}
	if err := s.EraseKeys(ctx, BucketSessions, SessionKey(clinic, session)); err != nil {
		return err
	}
	if err := s.EraseKeys(ctx, BucketConsent, ConsentKey(clinic, phone)); err != nil {
		return err
	}
	if err := s.EraseKeys(ctx, BucketClients, ClientKey(clinic, phone)); err != nil {
		return err
	}
	return s.eraseEvent(ctx, clinic, seq, eventID)
}

// ErasePlan removes a session's plan: its timers and due jobs, which carry
// the client's number, and its follow-up records. For a session whose
// record is gone while an event's plan was being written.
func (s *Store) ErasePlan(ctx context.Context, clinic, session string) error {
	tok := SessionKey(clinic, session)
	if err := s.PurgeSubjects(ctx, StreamFollowUps, "followups.schedule."+tok+".>", "followups.due."+tok+".>"); err != nil {
		return err
	}
	fus, err := s.Keys(ctx, BucketFollowUps, tok+".*")
	if err != nil {
		return err
	}
	return s.EraseKeys(ctx, BucketFollowUps, fus...)
}

// OutboundKey is the inbox bucket's key of a text the clinic sends in a
// conversation outside the follow-up plan: a staff reply, or the
// first-session confirmation (ConfirmationID).
func OutboundKey(clinic, conv, id string) string { return "out." + clinic + "." + conv + "." + id }

// ConfirmationID is the id of the first-session confirmation text in a
// conversation: one per client and clinic (see inbox.Store.Confirm).
const ConfirmationID = "confirm"

// eraseConfirmation removes the first-session confirmation text queued for
// a client: its job on the outbox (and the timer of one waiting for the
// send window) first, so the worker does not take a job whose record is
// gone, then its record, which holds the number.
func (s *Store) eraseConfirmation(ctx context.Context, clinic, phone string) error {
	conv := aftercare.ConversationID(clinic, phone)
	if err := s.PurgeSubjects(ctx, StreamOutbox, "outbox_schedule."+clinic+"."+conv+"."+ConfirmationID); err != nil {
		return err
	}
	_, err := s.EraseMessages(ctx, StreamOutbox, "outbox."+clinic, func(m StreamMsg) bool {
		var job struct {
			ConversationID string `json:"conversation_id"`
			ID             string `json:"id"`
		}
		return json.Unmarshal(m.Data, &job) == nil && job.ConversationID == conv && job.ID == ConfirmationID
	})
	if err != nil {
		return err
	}
	return s.EraseKeys(ctx, BucketInbox, OutboundKey(clinic, conv, ConfirmationID))
}

func (s *Store) eraseEvent(ctx context.Context, clinic string, seq uint64, eventID string) error {
	if seq == 0 {
		return nil
	}
	stream, err := s.js.Stream(ctx, StreamSessions)
	if err != nil {
		return fmt.Errorf("erase session event: %w", err)
	}
	msg, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("erase session event %d: %w", seq, err)
	}
	var ev aftercare.SessionEvent
	if !strings.HasPrefix(msg.Subject, "sessions."+clinic+".") || json.Unmarshal(msg.Data, &ev) != nil || ev.EventID != eventID {
		return nil // not this event's message (a caller's own numbering)
	}
	return s.EraseSeqs(ctx, StreamSessions, seq)
}

// Tombstone is one client's erasure under way, as its tombstone names it.
type Tombstone struct {
	ClinicID, Phone, Job string
}

// Tombstones lists every tombstone standing, for the sweep that finds
// those no job will take down.
func (s *Store) Tombstones(ctx context.Context) ([]Tombstone, error) {
	keys, err := s.Keys(ctx, BucketErasing, ">")
	if err != nil {
		return nil, err
	}
	var out []Tombstone
	for _, key := range keys {
		clinic, digits, ok := strings.Cut(key, ".")
		if !ok {
			continue
		}
		t := Tombstone{ClinicID: clinic, Phone: "+" + digits}
		if t.Job, err = s.Erasing(ctx, clinic, t.Phone); err != nil {
			return nil, err
		}
		if t.Job != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// ErasureQueued reports whether an erasure job's message is in the
// erasure stream, waiting or in hand: the stream is a work queue, so a
// job's message is gone once it was acknowledged or given up on.
func (s *Store) ErasureQueued(ctx context.Context, clinic, job string) (bool, error) {
	stream, err := s.js.Stream(ctx, StreamErasure)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up erasure %s: %w", job, err)
	}
	// A work queue takes no second consumer on its subjects: read the
	// clinic's messages one by one, few as they are.
	for seq := uint64(1); ; {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject("erasure.client."+clinic))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("look up erasure %s: %w", job, err)
		}
		if string(msg.Data) == job {
			return true, nil
		}
		seq = msg.Sequence + 1
	}
}
