package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// ErrConflict means a record changed since it was read; read it again.
var ErrConflict = errors.New("record changed concurrently")

// ErrCorrupt means a stored record cannot be decoded. Reading it again
// will not help: an operator must repair or delete it, so jobs that meet
// one are given up after a few attempts rather than retried for ever.
var ErrCorrupt = errors.New("corrupt record")

// keyForLogs is a key as errors (and so logs and dead-letter reasons) show
// it. The clients and opt-outs buckets are keyed by the client's number,
// without its "+", which log scanners would not recognise: it is masked
// the way aftercare.MaskPhone masks a number.
func keyForLogs(bucket, key string) string {
	if bucket != BucketClients && bucket != BucketOptOuts && bucket != BucketConsent && bucket != BucketErasing {
		return key
	}
	clinic, rest, found := strings.Cut(key, ".")
	if !found {
		return aftercare.MaskPhone(key)
	}
	return clinic + "." + aftercare.MaskPhone(rest)
}

// ReasonHeader carries why a message was dead-lettered.
const ReasonHeader = "Aftercare-Reason"

// Store reads and writes the service's records in JetStream.
type Store struct {
	js jetstream.JetStream
	// leaderReads: the buckets are replicated, so reads go to the leader.
	leaderReads bool
	sessions    jetstream.KeyValue
	followUps   jetstream.KeyValue
	optOuts     jetstream.KeyValue

	clients     jetstream.KeyValue
	replies     jetstream.KeyValue
	escalations jetstream.KeyValue
	sendSlots   jetstream.KeyValue
	limits      jetstream.KeyValue

	staff         jetstream.KeyValue
	staffSessions jetstream.KeyValue
	inbox         jetstream.KeyValue
	consent       jetstream.KeyValue
	auditIDs      jetstream.KeyValue
	erasureJobs   jetstream.KeyValue
	erasing       jetstream.KeyValue
}

func sessionKey(clinic, session string) string { return clinic + "." + Token(session) }

func followUpKey(clinic, session string, step aftercare.Step) string {
	return sessionKey(clinic, session) + "." + strconv.Itoa(int(step))
}

// PublishEvent stores a session event durably; it returns once JetStream has
// acknowledged it. duplicate is true when the event id was already stored.
func (s *Store) PublishEvent(ctx context.Context, clinic string, ev aftercare.SessionEvent) (duplicate bool, err error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("encode event %s: %w", ev.EventID, err)
	}
	msg := nats.NewMsg("sessions." + clinic + "." + Token(ev.SessionID))
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, clinic+"."+Token(ev.EventID))
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("store event %s: %w", ev.EventID, err)
	}
	return ack.Duplicate, nil
}

// Session returns a session record and its revision, or aftercare.ErrNotFound.
func (s *Store) Session(ctx context.Context, clinic, session string) (aftercare.Session, uint64, error) {
	// A worker reads one for every text: decoded without reflection.
	return getDecoded(ctx, s, s.sessions, sessionKey(clinic, session), aftercare.ParseSession)
}

// SaveSession writes a session record if it is still at revision rev (0: new).
func (s *Store) SaveSession(ctx context.Context, rec aftercare.Session, rev uint64) (uint64, error) {
	return saveJSON(ctx, s.sessions, sessionKey(rec.ClinicID, rec.SessionID), rec, rev)
}

// FollowUp returns a follow-up record and its revision, or aftercare.ErrNotFound.
func (s *Store) FollowUp(ctx context.Context, clinic, session string, step aftercare.Step) (aftercare.FollowUp, uint64, error) {
	return getJSON[aftercare.FollowUp](ctx, s, s.followUps, followUpKey(clinic, session, step))
}

// SaveFollowUp writes a follow-up record if it is still at revision rev (0: new).
func (s *Store) SaveFollowUp(ctx context.Context, rec aftercare.FollowUp, rev uint64) (uint64, error) {
	key := followUpKey(rec.ClinicID, rec.SessionID, rec.Step)
	if rev == 0 {
		return saveJSON(ctx, s.followUps, key, rec, rev)
	}
	// The worker writes each text's record twice (claimed, sent): the lean
	// write (lean.go).
	data, err := aftercare.EncodeFollowUp(rec)
	if err != nil {
		return 0, fmt.Errorf("encode %s %s: %w", BucketFollowUps, keyForLogs(BucketFollowUps, key), err)
	}
	rev, err = leanUpdate(ctx, s.js.Conn(), BucketFollowUps, key, data, rev)
	return saved(BucketFollowUps, key, rev, err)
}

// FollowUps returns the follow-up records of one session, in step order.
func (s *Store) FollowUps(ctx context.Context, clinic, session string, steps int) ([]aftercare.FollowUp, error) {
	var out []aftercare.FollowUp
	for step := 1; step <= steps; step++ {
		f, _, err := s.FollowUp(ctx, clinic, session, aftercare.Step(step))
		if errors.Is(err, aftercare.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// EachFollowUp calls fn for every follow-up record, for housekeeping. It
// reads the bucket's stream in batches, the latest value of each key, so its
// memory stays flat however many records there are (a key listing buffers
// every key and then needs a read per record).
func (s *Store) EachFollowUp(ctx context.Context, fn func(aftercare.FollowUp, uint64) error) error {
	stream, err := s.js.Stream(ctx, "KV_"+BucketFollowUps)
	if err != nil {
		return fmt.Errorf("list follow-ups: %w", err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$KV." + BucketFollowUps + ".>"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("list follow-ups: %w", err)
	}
	remaining := cons.CachedInfo().NumPending
	for remaining > 0 {
		batch, err := cons.Fetch(int(min(remaining, 512)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("list follow-ups: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			if deleteMarker(msg.Headers()) {
				continue
			}
			meta, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("list follow-ups: %w", err)
			}
			var f aftercare.FollowUp
			if err := json.Unmarshal(msg.Data(), &f); err != nil {
				continue // not a record we wrote; nothing to reconcile
			}
			// A key's revision is its stream sequence.
			if err := fn(f, meta.Sequence.Stream); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("list follow-ups: %w", err)
		}
		if n == 0 {
			break // the rest expired or was deleted meanwhile
		}
		remaining -= uint64(n)
	}
	return ctx.Err()
}

func dueSubjects(d aftercare.DueFollowUp) (schedule, due string) {
	suffix := DueSuffix(d)
	return "followups.schedule." + suffix, "followups.due." + suffix
}

// Schedule sets the durable timer of a follow-up: a JetStream message
// schedule that publishes the job on followups.due.* at its due time.
// Publishing again for the same step replaces the timer.
func (s *Store) Schedule(ctx context.Context, d aftercare.DueFollowUp) error {
	schedSubject, _ := dueSubjects(d)
	return s.scheduleAt(ctx, schedSubject, d, d.DueAt)
}

// Defer sets a follow-up's timer again, to fire its job (due time and all
// unchanged) at a later time: for a job that must wait (a closed send
// window, a retry's backoff) without holding a place in its lane.
//
// A deferred job has its own timer subject, beside the plan's: a
// reschedule may set the step's new timer while a job of the old plan is
// being deferred, and that must not replace it. (The old job then fires,
// and is dropped for its plan version.)
func (s *Store) Defer(ctx context.Context, d aftercare.DueFollowUp, at time.Time) error {
	return s.scheduleAt(ctx, deferredSubject(d), d, at)
}

// deferredSubject is a deferred job's timer: deferring it again replaces it.
func deferredSubject(d aftercare.DueFollowUp) string {
	schedSubject, _ := dueSubjects(d)
	return schedSubject + ".deferred"
}

func (s *Store) scheduleAt(ctx context.Context, schedSubject string, d aftercare.DueFollowUp, at time.Time) error {
	_, dueSubject := dueSubjects(d)
	msg, err := dueMsg(schedSubject, d)
	if err != nil {
		return err
	}
	// Set by hand with fractions: nats.go's WithScheduleAt drops them, which
	// can fire a schedule up to a second early.
	msg.Header.Set(jetstream.ScheduleHeader, "@at "+at.UTC().Format(time.RFC3339Nano))
	msg.Header.Set(jetstream.ScheduleTargetHeader, dueSubject)
	// No Nats-Msg-Id: publishing again must always replace the timer, and a
	// repeat of the same timer is harmless.
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("schedule follow-up %s: %w", schedSubject, err)
	}
	return nil
}

// FireNow publishes a follow-up's job at once, for a timer that went missing.
func (s *Store) FireNow(ctx context.Context, d aftercare.DueFollowUp) error {
	_, dueSubject := dueSubjects(d)
	msg, err := dueMsg(dueSubject, d)
	if err != nil {
		return err
	}
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("fire follow-up %s: %w", dueSubject, err)
	}
	return nil
}

func dueMsg(subject string, d aftercare.DueFollowUp) (*nats.Msg, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode follow-up: %w", err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	return msg, nil
}

// CancelSchedules removes the pending timers of a session: of the given
// steps, or of every step when none are given. A job that has already fired
// is stopped by the change to its follow-up's record that goes with this
// (its claim fails, and the worker reads the record and session), and so
// is one a worker deferred, whose timer only the every-step form removes.
func (s *Store) CancelSchedules(ctx context.Context, clinic, session string, steps ...aftercare.Step) error {
	stream, err := s.js.Stream(ctx, StreamFollowUps)
	if err != nil {
		return fmt.Errorf("cancel follow-ups: %w", err)
	}
	filters := []string{"followups.schedule." + sessionKey(clinic, session) + ".>"}
	if len(steps) > 0 {
		filters = filters[:0]
		for _, step := range steps {
			filters = append(filters, "followups.schedule."+followUpKey(clinic, session, step))
		}
	}
	for _, filter := range filters {
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject(filter)); err != nil {
			return fmt.Errorf("cancel follow-ups %s: %w", filter, err)
		}
	}
	return nil
}

// DeadLetter stores a message given up on under deadletter.<kind>.<suffix>,
// with the reason in a header and the original payload as the body.
func (s *Store) DeadLetter(ctx context.Context, kind, suffix string, payload []byte, reason string) error {
	msg := nats.NewMsg("deadletter." + kind + "." + suffix)
	msg.Data = payload
	msg.Header.Set(ReasonHeader, strings.ReplaceAll(reason, "\n", " "))
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("dead-letter %s: %w", msg.Subject, err)
	}
	return nil
}

// DueSuffix names a follow-up in subjects: clinic.session.step.
func DueSuffix(d aftercare.DueFollowUp) string {
	return d.ClinicID + "." + Token(d.SessionID) + "." + strconv.Itoa(int(d.Step))
}

func optOutKey(clinic, phone string) string {
	return clinic + "." + strings.TrimPrefix(phone, "+")
}

// The opt-out bucket is the clinic's do-not-text list: a client who
// opted out (the value is when), or a number whose texts fail for good (the
// value starts with failingPrefix). One read before each send covers both.
const failingPrefix = "failing: "

// DoNotText returns why a clinic must not text a number ("client opted
// out", "number failing: ..."), or "" when it may.
func (s *Store) DoNotText(ctx context.Context, clinic, phone string) (string, error) {
	value, _, err := s.get(ctx, s.optOuts, optOutKey(clinic, phone))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read opt-out: %w", err)
	}
	if reason, ok := strings.CutPrefix(string(value), failingPrefix); ok {
		return "number failing: " + reason, nil
	}
	return "client opted out", nil
}

// OptedOut reports whether a client has opted out of a clinic's texts.
func (s *Store) OptedOut(ctx context.Context, clinic, phone string) (bool, error) {
	reason, err := s.DoNotText(ctx, clinic, phone)
	return reason == "client opted out", err
}

// SetOptOut records that a client opted out of (or back into) a clinic's
// texts. Opting out replaces a failing mark; opting in clears either.
func (s *Store) SetOptOut(ctx context.Context, clinic, phone string, out bool, at time.Time) error {
	key := optOutKey(clinic, phone)
	var err error
	if out {
		_, err = s.optOuts.Put(ctx, key, []byte(at.UTC().Format(time.RFC3339)))
	} else {
		err = s.optOuts.Delete(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("record opt-out: %w", err)
	}
	return nil
}

// MarkFailing records that texts to a number fail for good (an invalid,
// landline or unreachable number), unless it is opted out already.
func (s *Store) MarkFailing(ctx context.Context, clinic, phone, reason string, at time.Time) error {
	_, err := s.optOuts.Create(ctx, optOutKey(clinic, phone), []byte(failingPrefix+reason+" since "+at.UTC().Format(time.RFC3339)))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("mark number failing: %w", err)
	}
	return nil
}

// ClearFailing lifts a failing mark (the client has texted us, so the
// number works); an opt-out stays.
func (s *Store) ClearFailing(ctx context.Context, clinic, phone string) error {
	key := optOutKey(clinic, phone)
	value, rev, err := s.get(ctx, s.optOuts, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read opt-out: %w", err)
	}
	if !strings.HasPrefix(string(value), failingPrefix) {
		return nil
	}
	err = s.optOuts.Delete(ctx, key, jetstream.LastRevision(rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("clear failing mark: %w", err)
	}
	return nil
}

// getJSON reads a record and decodes it with encoding/json.
func getJSON[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, key string) (T, uint64, error) {
	return getDecoded(ctx, s, kv, key, func(data []byte) (T, error) {
		var v T
		err := json.Unmarshal(data, &v)
		return v, err
	})
}

// getDecoded is getJSON with a decoder of the record's own, which must
// answer as json.Unmarshal does.
func getDecoded[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, key string, decode func([]byte) (T, error)) (T, uint64, error) {
	value, rev, err := s.get(ctx, kv, key)
	return decoded(kv, key, value, rev, err, decode)
}

// decoded is getDecoded's answer from what a read of kv's key gave.
func decoded[T any](kv jetstream.KeyValue, key string, value []byte, rev uint64, err error, decode func([]byte) (T, error)) (T, uint64, error) {
	var v T
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return v, 0, aftercare.ErrNotFound
	}
	if err != nil {
		return v, 0, fmt.Errorf("read %s %s: %w", kv.Bucket(), keyForLogs(kv.Bucket(), key), err)
	}
	if v, err = decode(value); err != nil {
		// json's messages name the type and at most one character of the
		// value, never the value itself.
		return v, 0, fmt.Errorf("decode %s %s: %w: %w", kv.Bucket(), keyForLogs(kv.Bucket(), key), ErrCorrupt, err)
	}
	return v, rev, nil
}

func saveJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any, rev uint64) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s %s: %w", kv.Bucket(), keyForLogs(kv.Bucket(), key), err)
	}
	var newRev uint64
	if rev == 0 {
		newRev, err = kv.Create(ctx, key, data)
	} else {
		newRev, err = kv.Update(ctx, key, data, rev)
	}
	return saved(kv.Bucket(), key, newRev, err)
}

// saved is a write's answer, with a revision mismatch as ErrConflict and the
// key as logs may show it.
func saved(bucket, key string, rev uint64, err error) (uint64, error) {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, ErrConflict) {
		return 0, fmt.Errorf("write %s %s: %w", bucket, keyForLogs(bucket, key), ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("write %s %s: %w", bucket, keyForLogs(bucket, key), err)
	}
	return rev, nil
}
