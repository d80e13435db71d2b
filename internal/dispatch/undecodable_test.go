package dispatch_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// subjectMsg is a job as it came on its subject; DeadLetter reads only
// these two.
type subjectMsg struct {
	jetstream.Msg
	subject string
	data    []byte
}

func (m subjectMsg) Subject() string { return m.subject }
func (m subjectMsg) Data() []byte    { return m.data }

// A due job that cannot be decoded is dead-lettered under the clinic its
// subject names, so that clinic's export and erasure find it and another
// clinic's, with a client of the same number, does not.
func TestUndecodableJobIsDeadLetteredUnderItsClinic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	msg := subjectMsg{subject: "followups.due.sol.s9.2", data: []byte(`{"clinic_id":"sol","phone":"+447700900401"`)}
	if err := b.dispatcher.DeadLetter(context.Background(), msg, "cannot decode"); err != nil {
		t.Fatal(err)
	}
	dl := b.deadLetters(t)
	if len(dl) != 1 || dl[0].Subject != "deadletter.followup.sol.undecodable" {
		t.Fatalf("%d dead letters %v, want one on deadletter.followup.sol.undecodable", len(dl), subjects(dl))
	}
}

func subjects(msgs []*nats.Msg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Subject)
	}
	return out
}
