package systemtest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

type reviewList struct {
	Replies []struct {
		MessageSID  string    `json:"message_sid"`
		ReceivedAt  time.Time `json:"received_at"`
		ClientPhone string    `json:"client_phone"`
		Body        string    `json:"body"`
		Class       string    `json:"class"`
		Reason      string    `json:"reason"`
		SessionID   string    `json:"session_id"`
	} `json:"replies"`
}

// A reply about the body that triage cannot read with confidence reaches
// a person: it is listed for its clinic to review (not for another), pages
// no one, raises no escalation, gets no answer and stops no tips; marked
// reviewed, it leaves the list.
func TestUnclearReplyListedForReview(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,30s,40s")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const client = "+447700900511"
	s.post(scheduler, event("e1", "rv1", "completed", client, time.Now()))
	if got := s.messagesTo(client, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d first tips", len(got))
	}

	sid := newSID()
	params := twiliotest.Inbound(sid, client, harbourNumber, "my shoulder feels weird since yesterday")
	if res := s.text(worker, params, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("inbound webhook: %d", res.StatusCode)
	}
	var list reviewList
	waitFor(t, 10*time.Second, "the reply listed for review", func() bool {
		list = reviewList{}
		return s.getJSON(scheduler, "/v1/replies?status=needs_review", token, &list) == http.StatusOK && len(list.Replies) == 1
	})
	r := list.Replies[0]
	if r.MessageSID != sid || r.ClientPhone != client || r.Body != "my shoulder feels weird since yesterday" || r.Class != "needs_review" ||
		!strings.Contains(r.Reason, "shoulder") || r.SessionID != "rv1" || r.ReceivedAt.IsZero() {
		t.Errorf("listed as %+v", r)
	}
	var solList reviewList
	if status := s.getJSON(scheduler, "/v1/replies?status=needs_review", solToken, &solList); status != http.StatusOK || len(solList.Replies) != 0 {
		t.Errorf("sol's list: %d %+v", status, solList)
	}
	if status, _ := s.call(scheduler, http.MethodPost, "/v1/replies/"+sid+"/reviewed", solToken, `{"by":"Rosa"}`); status != http.StatusNotFound {
		t.Errorf("sol marking harbour's reply: %d, want 404", status)
	}

	// Nobody paged, nothing raised, nothing answered.
	var escalations struct{ Escalations []aftercare.Escalation }
	s.getJSON(scheduler, "/v1/escalations?status=all", token, &escalations)
	if len(escalations.Escalations) != 0 {
		t.Errorf("escalations raised: %+v", escalations.Escalations)
	}
	if n := len(s.clinic.Wait(1, 0)); n != 0 {
		t.Errorf("clinic webhook called %d times", n)
	}
	if got := s.messagesTo("+447700900199", 1, 0); len(got) != 0 {
		t.Errorf("on-call texted: %+v", got)
	}
	if got := s.messagesTo(client, 2, 0); len(got) != 1 {
		t.Errorf("client got %d texts, want the first tip only", len(got))
	}

	status, body := s.call(scheduler, http.MethodPost, "/v1/replies/"+sid+"/reviewed", token, `{"by":"Dana","note":"called, a stiff shoulder"}`)
	if status != http.StatusOK || !strings.Contains(string(body), `"reviewed_by":"Dana"`) {
		t.Fatalf("mark reviewed: %d %s", status, body)
	}
	list = reviewList{}
	if status := s.getJSON(scheduler, "/v1/replies?status=needs_review", token, &list); status != http.StatusOK || len(list.Replies) != 0 {
		t.Errorf("after review: %d %+v", status, list)
	}
}
