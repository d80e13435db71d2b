package escalation_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// subjectMsg is an announcement as it came on its subject; DeadLetter
// reads only these two.
type subjectMsg struct {
	jetstream.Msg
	subject string
	data    []byte
}

func (m subjectMsg) Subject() string { return m.subject }
func (m subjectMsg) Data() []byte    { return m.data }

// An announcement that cannot be decoded is dead-lettered under the clinic
// its subject names (escalations.<clinic>), not under no clinic, where
// another clinic's export of the same number would take it.
func TestUndecodableEscalationIsDeadLetteredUnderItsClinic(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	n := &escalation.Notifier{Store: env.Store, Log: natsjstest.Logger()}
	ctx := context.Background()
	msg := subjectMsg{subject: "escalations.sol", data: []byte(`{"client_phone":"+447700900401"`)}
	if err := n.DeadLetter(ctx, msg, "cannot decode"); err != nil {
		t.Fatal(err)
	}
	if got := env.Count(t, natsjs.StreamDeadLetter, "deadletter.escalation.sol.undecodable"); got != 1 {
		t.Errorf("%d dead letters on deadletter.escalation.sol.undecodable, want 1", got)
	}
}
