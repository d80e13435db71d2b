package systemtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/twiliotest"
)

// A request to stop in plain words, English or Spanish, opts the client out
// and is confirmed, and no tip follows; one that also reports a symptom
// opts out and pages the clinic as well, never a silent opt-out. (Before,
// only the carrier keywords opted out: "please stop texting me" was
// classed "other" and the tips went on.)
func TestPlainWordsStopRequests(t *testing.T) {
	t.Parallel()
	s := setup(t, "6s,7s,8s")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const english, spanish, mixed = "+447700900701", "+447700900702", "+447700900703"
	start := time.Now()
	for i, phone := range []string{english, spanish, mixed} {
		id := []string{"pw-en", "pw-es", "pw-mix"}[i]
		s.post(scheduler, event(id, id, "completed", phone, start))
	}
	store, _ := s.store()
	for _, phone := range []string{english, spanish, mixed} {
		waitLinked(t, store, phone)
	}
	s.text(worker, twiliotest.Inbound(newSID(), english, harbourNumber, "please stop texting me, thanks"), "")
	s.text(worker, twiliotest.Inbound(newSID(), spanish, harbourNumber, "ya no me manden mensajes por favor"), "")
	s.text(worker, twiliotest.Inbound(newSID(), mixed, harbourNumber, "stop texting me, my leg has gone numb"), "")

	for _, phone := range []string{english, spanish, mixed} {
		waitFor(t, 10*time.Second, "opt-out of "+phone, func() bool {
			out, err := store.OptedOut(context.Background(), "harbour", phone)
			return err == nil && out
		})
	}
	for _, phone := range []string{english, spanish} {
		got := s.messagesTo(phone, 1, 5*time.Second)
		if len(got) != 1 || !strings.Contains(got[0].Body, "no more aftercare texts") {
			t.Errorf("%s: want one opt-out confirmation, got %+v", phone, got)
		}
	}
	if got := s.messagesTo("+447700900199", 1, 10*time.Second); len(got) != 1 {
		t.Errorf("stop request with a red flag: the on-call phone got %d texts, want the alert", len(got))
	}
	// Past every due time: no tip reached any of them.
	time.Sleep(time.Until(start.Add(10 * time.Second)))
	for _, phone := range []string{english, spanish, mixed} {
		for _, m := range s.messagesTo(phone, 0, 0) {
			if strings.Contains(m.Body, "Day ") {
				t.Errorf("%s got a tip after asking to stop: %q", phone, m.Body)
			}
		}
	}
}
