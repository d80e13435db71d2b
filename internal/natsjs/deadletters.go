package natsjs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// StoredDeadLetter is one message in the dead-letter stream.
type StoredDeadLetter struct {
	Seq     uint64
	Subject string
	Reason  string
	Data    []byte
	At      time.Time
}

// DeadLetters returns the dead letters on subjects matching filter (such as
// "deadletter.followup.>"), oldest first.
func (s *Store) DeadLetters(ctx context.Context, filter string) ([]StoredDeadLetter, error) {
	stream, err := s.js.Stream(ctx, StreamDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	var want uint64
	for _, n := range info.State.Subjects {
		want += n
	}
	if want == 0 {
		return nil, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	var out []StoredDeadLetter
	for uint64(len(out)) < want {
		batch, err := cons.Fetch(int(min(want-uint64(len(out)), 256)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return out, fmt.Errorf("dead letters: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, _ := msg.Metadata()
			dl := StoredDeadLetter{Subject: msg.Subject(), Reason: msg.Headers().Get(ReasonHeader), Data: msg.Data()}
			if meta != nil {
				dl.Seq, dl.At = meta.Sequence.Stream, meta.Timestamp
			}
			out = append(out, dl)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return out, fmt.Errorf("dead letters: %w", err)
		}
		if n == 0 {
			break
		}
	}
	return out, nil
}

// UndecodableSuffix is the dead-letter suffix of a job that cannot be
// decoded: "<clinic>.undecodable", the clinic read from the subject the job
// came on (its token at clinicAt), so that the clinic's export and erasure
// take the dead letter and no other clinic's does (its body may name a
// number that another clinic has a client with too). Plain "undecodable"
// when the subject has no such token: such a dead letter is no clinic's.
func UndecodableSuffix(subject string, clinicAt int) string {
	tokens := strings.Split(subject, ".")
	if clinicAt < len(tokens) && tokens[clinicAt] != "" && tokens[clinicAt] != "*" && tokens[clinicAt] != ">" {
		return tokens[clinicAt] + ".undecodable"
	}
	return "undecodable"
}

// DeadLetterClinic is the clinic a dead letter's subject names, read at its
// kind's place ("" when it names none, as undecodable jobs stored before
// they were filed by clinic): a clinic's export, erasure and retention take
// its own dead letters by this, never by a token that only looks like its
// id (another clinic's session may be called after it).
func DeadLetterClinic(subject string) string {
	t := strings.Split(subject, ".")
	if len(t) < 3 || t[0] != "deadletter" {
		return ""
	}
	switch t[1] {
	case "session", "record":
		// deadletter.session.sessions.<clinic>.<session>,
		// deadletter.record.<bucket>.<clinic>
		if len(t) < 4 {
			return ""
		}
		return t[3]
	case "erasure":
		// deadletter.erasure.erasure.client.<clinic> (the scheduler's),
		// deadletter.erasure.twilio.<clinic> (the worker's)
		return t[len(t)-1]
	}
	// deadletter.<kind>.<clinic>...: followup, escalation, chain, replies,
	// delivery, outbox, booking.
	if len(t) == 3 && t[2] == "undecodable" {
		return ""
	}
	return t[2]
}

// DeleteDeadLetter removes a dead letter once it has been replayed.
func (s *Store) DeleteDeadLetter(ctx context.Context, seq uint64) error {
	stream, err := s.js.Stream(ctx, StreamDeadLetter)
	if err != nil {
		return err
	}
	return stream.DeleteMsg(ctx, seq)
}

// RepublishEscalation announces an escalation again, under a fresh message
// id so JetStream's duplicate window does not swallow it.
func (s *Store) RepublishEscalation(ctx context.Context, e aftercare.Escalation, attempt string) error {
	_, err := s.publishJSON(ctx, "escalations."+e.ClinicID, "escalation."+Token(e.ID)+".replay."+attempt, e)
	return err
}
