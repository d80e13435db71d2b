package systemtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/twiliotest"
)

// A client who says they may not want to live is escalated at once,
// flagged self_harm, and answered following safe-messaging guidance with
// the crisis line of their country and the emergency number. (Before, "i
// dont want to be here anymore" was classed "other" and nobody was told.)
func TestSelfHarmEscalatedWithACrisisLine(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const uk = "+447700900711"
	s.post(scheduler, event("sh1", "sh1", "completed", uk, time.Now()))
	store, _ := s.store()
	waitLinked(t, store, uk)

	s.text(worker, twiliotest.Inbound(newSID(), uk, harbourNumber, "honestly i dont want to be here anymore"), "")
	if got := s.messagesTo("+447700900199", 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("the on-call phone got %d texts, want the alert", len(got))
	}
	answer := s.messagesTo(uk, 1, 10*time.Second)
	if len(answer) != 1 || !strings.Contains(answer[0].Body, "Samaritans on 116 123") || !strings.Contains(answer[0].Body, "999") {
		t.Fatalf("answer %+v, want the Samaritans' line and 999", answer)
	}
	escalations, err := store.Escalations(context.Background(), "harbour")
	if err != nil || len(escalations) != 1 || escalations[0].Flag != "self_harm" || escalations[0].Class != "red_flag" {
		t.Fatalf("escalations %+v %v, want one red flag flagged self_harm", escalations, err)
	}
}
