package systemtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation/escalationtest"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// What the worker sends outward, and what it does with a record it cannot
// read: answers to numbers it does not know, the clinic's webhook, a
// corrupted client record.

// textAndWait sends a client's text and waits until the worker has handled
// it, returning its record.
func (s *system) textAndWait(t *testing.T, worker *program, store *natsjs.Store, from, body string) aftercare.Reply {
	t.Helper()
	sid := newSID()
	if res := s.text(worker, twiliotest.Inbound(sid, from, harbourNumber, body), ""); res.StatusCode != http.StatusOK {
		t.Fatalf("inbound webhook: %d", res.StatusCode)
	}
	var rec aftercare.Reply
	waitFor(t, 10*time.Second, "the text handled", func() bool {
		var err error
		rec, _, err = store.Reply(context.Background(), "harbour", sid)
		return err == nil && !rec.ProcessedAt.IsZero()
	})
	return rec
}

// A number with no session texting HELP five times, then STOP and START
// three times each: every opt-out and opt-in is recorded, in turn, but the
// number is answered once that day.
func TestStrangerKeywordsAnsweredOnce(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	worker := s.start("worker")
	store, _ := s.store()
	const helper, stopper = "+447700900801", "+447700900802"
	for range 5 {
		s.textAndWait(t, worker, store, helper, "HELP")
	}
	if got := s.messagesTo(helper, 2, 0); len(got) != 1 || !strings.Contains(got[0].Body, "+442079460000") {
		t.Errorf("HELP x5 from a stranger: answers %d, want 1 with the clinic's number", len(got))
	}
	for i := range 3 {
		for _, kw := range []string{"STOP", "START"} {
			s.textAndWait(t, worker, store, stopper, kw)
			out, err := store.OptedOut(context.Background(), "harbour", stopper)
			if err != nil || out != (kw == "STOP") {
				t.Errorf("round %d, after %s: opted out %v (%v)", i+1, kw, out, err)
			}
		}
	}
	if got := s.messagesTo(stopper, 2, 0); len(got) != 1 {
		t.Errorf("STOP/START x3 from a stranger: %d answers, want 1", len(got))
	}
	if got := metric(t, worker, `aftercare_reply_answers_withheld_total{reason="stranger_daily"}`); got != 9 {
		t.Errorf("withheld (daily) counted %d, want 9", got)
	}
}

// Fifty numbers with no session text the clinic's number: at most the
// hourly cap (STRANGER_ANSWERS_PER_HOUR, 20 by default) are answered in
// any hour, the rest are recorded and counted as withheld.
func TestStrangersCappedPerHour(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	worker := s.start("worker")
	store, _ := s.store()
	const strangers, hourlyCap = 50, 20
	sids := make([]string, strangers)
	for i := range sids {
		sids[i] = newSID()
		if res := s.text(worker, twiliotest.Inbound(sids[i], fmt.Sprintf("+4477009007%02d", i), harbourNumber, "hello?"), ""); res.StatusCode != http.StatusOK {
			t.Fatalf("inbound webhook: %d", res.StatusCode)
		}
	}
	perHour := map[string]int{}
	answered := 0
	waitFor(t, 30*time.Second, "every text handled", func() bool {
		clear(perHour)
		answered = 0
		for _, sid := range sids {
			rec, _, err := store.Reply(context.Background(), "harbour", sid)
			if err != nil || rec.ProcessedAt.IsZero() {
				return false
			}
			if rec.Answer != "" {
				answered++
				perHour[rec.ReceivedAt.UTC().Format("2006-01-02T15")]++
			}
		}
		return true
	})
	for hour, n := range perHour {
		if n > hourlyCap {
			t.Errorf("%d strangers answered in the hour %s, over the cap of %d", n, hour, hourlyCap)
		}
	}
	// However the texts fall across an hour's end, one hour got 25 or more.
	if answered < hourlyCap || len(s.twilio.Messages()) != answered {
		t.Errorf("%d strangers answered, %d texts sent; want at least the cap, %d, and one text each", answered, len(s.twilio.Messages()), hourlyCap)
	}
	if got := metric(t, worker, `aftercare_reply_answers_withheld_total{reason="stranger_hourly_cap"}`); got != strangers-answered {
		t.Errorf("withheld (hourly cap) counted %d, want %d", got, strangers-answered)
	}
}

// metric reads one sample from the worker's /metrics.
func metric(t *testing.T, p *program, sample string) int {
	t.Helper()
	res, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", sample)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// useWebhook points harbour's escalation webhook at url; call it before
// starting the worker.
func (s *system) useWebhook(t *testing.T, url string) {
	t.Helper()
	if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(clinicsJSON, url)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// escalationOf waits until the escalation raised by a reply has had a
// webhook attempt, and returns it.
func escalationOf(t *testing.T, store *natsjs.Store, rec aftercare.Reply) aftercare.Escalation {
	t.Helper()
	if rec.EscalationID == "" {
		t.Fatalf("the red flag was not escalated: %+v", rec)
	}
	var e aftercare.Escalation
	waitFor(t, 10*time.Second, "a webhook attempt", func() bool {
		var err error
		e, _, err = store.Escalation(context.Background(), "harbour", rec.EscalationID)
		return err == nil && e.Notice.WebhookAttempts >= 1
	})
	return e
}

// The clinic's webhook answers 307 to another address (here another host
// name, in plain http): the worker does not follow it, the other address
// gets nothing, and the escalation records the failed delivery and why.
func TestEscalationWebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	elsewhere := escalationtest.NewReceiver(webhookSecret)
	t.Cleanup(elsewhere.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)+"/collect", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	s.useWebhook(t, redirector.URL)
	worker := s.start("worker")
	store, _ := s.store()

	rec := s.textAndWait(t, worker, store, "+447700900803", "worse today and my leg has gone numb")
	e := escalationOf(t, store, rec)
	if !strings.Contains(e.Notice.WebhookError, "307") || !strings.Contains(e.Notice.WebhookError, "redirects are not followed") || !e.Notice.WebhookDeliveredAt.IsZero() {
		t.Errorf("escalation notice %+v, want a failed delivery naming the redirect", e.Notice)
	}
	if got := s.messagesTo("+447700900199", 1, 5*time.Second); len(got) != 1 {
		t.Errorf("on-call texts %d, want 1: the other channel still reaches the clinic", len(got))
	}
	waitFor(t, 10*time.Second, "a retry of the webhook", func() bool {
		e, _, _ = store.Escalation(context.Background(), "harbour", rec.EscalationID)
		return e.Notice.WebhookAttempts >= 2
	})
	refused, turnedAway := elsewhere.Counts()
	if got := len(elsewhere.Received()); got+refused+turnedAway != 0 {
		t.Errorf("the redirect's target got %d webhooks (%d refused): the signed body left for another address", got, refused)
	}
}

// With loopback not allowed (production's default), a webhook URL on
// 127.0.0.1 is refused when the worker connects: the receiver gets nothing.
func TestEscalationWebhookToLoopbackRefused(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	worker := s.start("worker", "ESCALATION_WEBHOOK_ALLOW_LOOPBACK=false")
	store, _ := s.store()

	rec := s.textAndWait(t, worker, store, "+447700900804", "worse today and my leg has gone numb")
	e := escalationOf(t, store, rec)
	if !strings.Contains(e.Notice.WebhookError, "refused") || !strings.Contains(e.Notice.WebhookError, "loopback") || !e.Notice.WebhookDeliveredAt.IsZero() {
		t.Errorf("escalation notice %+v, want a delivery refused as loopback", e.Notice)
	}
	refused, turnedAway := s.clinic.Counts()
	if got := len(s.clinic.Received()); got+refused+turnedAway != 0 {
		t.Errorf("the loopback receiver got %d webhooks", got+refused+turnedAway)
	}
}

// A client's record in aftercare_clients holds "not-json{". The client's
// red flag is still escalated: the record is set aside (dead-lettered with
// its reason, then deleted) and the text handled as from a number with no
// session on file, where before it was retried for ever (and, once give-up
// came in, dropped). The worker's logs hold the number in neither form
// (with or without "+"; the record's key is the number without it).
func TestCorruptClientRecordSetAside(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const client = "+447700900805"
	s.post(scheduler, event("c1", "c1", "completed", client, time.Now()))
	store, js := s.store()
	waitLinked(t, store, client)
	kv, err := js.KeyValue(context.Background(), natsjs.BucketClients)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "harbour."+strings.TrimPrefix(client, "+"), []byte("not-json{")); err != nil {
		t.Fatal(err)
	}

	s.text(worker, twiliotest.Inbound(newSID(), client, harbourNumber, "worse today and my leg has gone numb"), "")
	if got := s.messagesTo("+447700900199", 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("the on-call phone got %d texts, want the red flag's alert", len(got))
	}
	dl := s.deadLetter(t, js, "deadletter.record.aftercare_clients.harbour")
	if dl == nil {
		t.Fatal("the corrupt record was not set aside")
	}
	reason := dl.Header.Get(natsjs.ReasonHeader)
	if !strings.Contains(reason, "corrupt record") || !strings.Contains(reason, "harbour.447*******05") {
		t.Errorf("dead-letter reason %q, want the corrupt record named, its number masked", reason)
	}
	if string(dl.Data) != "not-json{" {
		t.Errorf("dead letter holds %q, want the record's bytes", dl.Data)
	}
	if n := streamCount(t, js, natsjs.StreamDeadLetter); n != 1 {
		t.Errorf("%d dead letters, want only the record's (the text was handled)", n)
	}
	s.wantMetrics(worker, `aftercare_client_records_set_aside_total 1`, `aftercare_replies_dead_lettered_total 0`)
	for _, form := range []string{client, strings.TrimPrefix(client, "+")} {
		if strings.Contains(worker.Logs(), form) {
			t.Errorf("the worker's logs hold the client's number as %s", aftercare.MaskPhone(form))
		}
	}
}
