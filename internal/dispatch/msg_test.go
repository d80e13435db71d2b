package dispatch_test

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// fakeMsg carries a job to DeadLetter, which reads only its data; the real
// path is covered by the system test through JetStream.
type jobMsg struct {
	jetstream.Msg
	data []byte
}

func (m jobMsg) Data() []byte { return m.data }

func fakeMsg(t *testing.T, job aftercare.DueFollowUp) jetstream.Msg {
	t.Helper()
	data, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	return jobMsg{data: data}
}
