package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

const (
	publicBase    = "https://aftercare.example" // PUBLIC_BASE_URL: what Twilio calls and signs
	harbourNumber = "+447700900100"
	solService    = "MG00000000000000000000000000000001"
	solNumber     = "+525555550001" // a number in sol's Messaging Service pool
)

var sidCounter atomic.Int64

func newSID() string { return fmt.Sprintf("SM%032x", sidCounter.Add(1)) }

// text posts a client's text to the worker the way Twilio does: signed with
// the auth token over the public URL (not the address the worker listens
// on), form-encoded.
func (s *system) text(worker *program, params url.Values, signature string) *http.Response {
	s.t.Helper()
	s.replies.add(params.Get("Body"))
	req, _ := http.NewRequest(http.MethodPost, "http://"+worker.addr+"/v1/twilio/inbound", strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature == "" {
		signature = twiliotest.Sign(twiliotest.AuthToken, publicBase+"/v1/twilio/inbound", params)
	}
	if signature != "-" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// store opens the records the programs keep, to check them.
func (s *system) store() (*natsjs.Store, jetstream.JetStream) {
	s.t.Helper()
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	st, err := natsjs.Provision(context.Background(), js, natsjs.Settings{Replicas: 1, Retention: 720 * time.Hour})
	if err != nil {
		s.t.Fatal(err)
	}
	return st, js
}

func streamCount(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLinked waits until the planner has recorded a harbour client's
// session, so their replies can be linked to it.
func waitLinked(t *testing.T, store *natsjs.Store, phone string) {
	t.Helper()
	waitFor(t, 5*time.Second, "client record", func() bool {
		c, _, err := store.Client(context.Background(), "harbour", phone)
		return err == nil && len(c.Sessions) > 0
	})
}

// A client who reports a red flag after their first tip: the clinic's
// webhook and on-call phone hear of it at once, the client is told to seek
// urgent care, no more tips go out, and only that clinic can see and act
// on the escalation.
func TestRedFlagReplyEscalates(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,5s,7s")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const client = "+447700900501"
	s.post(scheduler, event("e1", "x1", "completed", client, time.Now()))
	if got := s.messagesTo(client, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d first tips", len(got))
	}

	params := twiliotest.Inbound(newSID(), client, harbourNumber, "worse today and my left leg is numb")
	sent := time.Now()
	if res := s.text(worker, params, ""); res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("inbound webhook: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	got := s.clinic.Wait(1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("clinic webhook got %d escalations", len(got))
	}
	e := got[0].Payload.Escalation
	t.Logf("reply to clinic webhook: %v", got[0].At.Sub(sent).Round(time.Millisecond))
	if got[0].Payload.Event != "escalation.raised" || e.ClinicID != "harbour" || e.SessionID != "x1" || e.Class != "red_flag" ||
		e.ClientPhone != client || !strings.Contains(e.Reason, "numb") || e.Status != aftercare.EscalationOpen {
		t.Errorf("escalation payload %+v", e)
	}
	onCall := s.messagesTo("+447700900199", 1, 5*time.Second)
	// The minimum necessary: the alert names no client and none of their words.
	if len(onCall) != 1 || !strings.Contains(onCall[0].Body, "ALERT Harbour Massage aftercare: an escalation needs attention") ||
		strings.Contains(onCall[0].Body, client[1:]) || strings.Contains(onCall[0].Body, "numb") || onCall[0].From != harbourNumber {
		t.Fatalf("on-call texts %+v", onCall)
	}
	answers := s.messagesTo(client, 2, 5*time.Second)
	if len(answers) != 2 || !strings.Contains(answers[1].Body, "urgent care") || !strings.Contains(answers[1].Body, "999") {
		t.Fatalf("client answer %+v", answers)
	}

	// Twilio replays the webhook: nothing more happens.
	if res := s.text(worker, params, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("replayed webhook: %d", res.StatusCode)
	}
	store, js := s.store()
	if n := streamCount(t, js, natsjs.StreamReplies); n != 1 {
		t.Errorf("replies stream holds %d messages after a replay, want 1", n)
	}

	// No more tips for this session: steps 2 and 3 are cancelled and,
	// past their due times, nothing more went to the client.
	for step := aftercare.Step(2); step <= 3; step++ {
		f, _, err := store.FollowUp(context.Background(), "harbour", "x1", step)
		if err != nil || f.Status != aftercare.FollowUpCancelled || !strings.Contains(f.Reason, "escalated") {
			t.Errorf("step %d: %+v %v", step, f, err)
		}
	}
	time.Sleep(time.Until(sent.Add(8 * time.Second)))
	if msgs := s.messagesTo(client, 3, 0); len(msgs) != 2 {
		t.Errorf("client got %d texts, want the first tip and the answer only", len(msgs))
	}
	if n := len(s.clinic.Wait(2, 0)); n != 1 {
		t.Errorf("clinic webhook called %d times, want once", n)
	}

	// The escalation API: harbour sees and acts on it; sol cannot.
	var list struct{ Escalations []aftercare.Escalation }
	s.getJSON(scheduler, "/v1/escalations", token, &list)
	if len(list.Escalations) != 1 || list.Escalations[0].ID != e.ID || list.Escalations[0].Notice.NotifiedAt.IsZero() {
		t.Fatalf("harbour's open escalations: %+v", list)
	}
	list.Escalations = nil
	s.getJSON(scheduler, "/v1/escalations?status=all", solToken, &list)
	if len(list.Escalations) != 0 {
		t.Fatalf("sol sees %d of harbour's escalations", len(list.Escalations))
	}
	for _, call := range []struct{ method, path string }{
		{http.MethodGet, "/v1/escalations/" + e.ID},
		{http.MethodPost, "/v1/escalations/" + e.ID + "/acknowledge"},
		{http.MethodPost, "/v1/escalations/" + e.ID + "/resolve"},
	} {
		if status, _ := s.call(scheduler, call.method, call.path, solToken, ""); status != http.StatusNotFound {
			t.Errorf("sol %s %s: %d, want 404", call.method, call.path, status)
		}
	}
	if status, _ := s.call(scheduler, http.MethodGet, "/v1/escalations", "not-a-token", ""); status != http.StatusUnauthorized {
		t.Errorf("no credential: %d", status)
	}
	if status, body := s.call(scheduler, http.MethodPost, "/v1/escalations/"+e.ID+"/acknowledge", token, `{"by":"Dana"}`); status != http.StatusOK || !strings.Contains(string(body), `"acknowledged"`) {
		t.Errorf("acknowledge: %d %s", status, body)
	}
	if status, body := s.call(scheduler, http.MethodPost, "/v1/escalations/"+e.ID+"/resolve", token, `{"by":"Dana","note":"called, booked GP"}`); status != http.StatusOK || !strings.Contains(string(body), `"resolved"`) {
		t.Errorf("resolve: %d %s", status, body)
	}
	if status, _ := s.call(scheduler, http.MethodPost, "/v1/escalations/"+e.ID+"/acknowledge", token, ""); status != http.StatusConflict {
		t.Errorf("acknowledge after resolve: %d, want 409", status)
	}
	if status, _ := s.call(scheduler, http.MethodPost, "/v1/escalations/"+e.ID+"/resolve", token, `{"surprise":1}`); status != http.StatusBadRequest {
		t.Errorf("unknown field: %d, want 400", status)
	}
	list.Escalations = nil
	s.getJSON(scheduler, "/v1/escalations", token, &list)
	if len(list.Escalations) != 0 {
		t.Errorf("resolved escalation still listed as open")
	}

	// What happened shows in each program's metrics.
	s.wantMetrics(worker,
		`aftercare_followups_total{outcome="sent"} 1`,
		`aftercare_followups_total{outcome="cancelled"} 0`,
		`aftercare_replies_total{class="red_flag"} 1`,
		`aftercare_escalations_raised_total 1`,
		`aftercare_escalation_notices_total{outcome="notified"} 1`,
		`aftercare_escalation_notice_latency_seconds_count 1`,
		`aftercare_followup_lateness_seconds_count 1`,
		`aftercare_twilio_request_duration_seconds_count{outcome="ok"} 3`,
		`aftercare_consumer_pending_messages{consumer="sender-harbour",stream="AFTERCARE_FOLLOWUPS"} 0`,
		`aftercare_consumer_pending_messages{consumer="replies",stream="AFTERCARE_REPLIES"} 0`,
	)
	s.wantMetrics(scheduler,
		`aftercare_session_events_total{outcome="accepted"} 1`,
		`aftercare_followups_planned_total{event="scheduled"} 3`,
		`aftercare_escalations_unacknowledged{clinic="harbour"} 0`,
		`aftercare_consumer_pending_messages{consumer="planner",stream="AFTERCARE_SESSIONS"} 0`,
	)
	// Health data and secrets stay out of the logs, even at debug level:
	// no full phone number, no text body, no credential.
	for name, p := range map[string]*program{"worker": worker, "scheduler": scheduler} {
		logs := p.Logs()
		for _, secret := range []string{client, "+447700900199", "my left leg is numb", token, solToken, webhookSecret, twiliotest.AuthToken} {
			if strings.Contains(logs, secret) {
				t.Errorf("%s logs contain %q", name, secret)
			}
		}
		if name == "worker" && !strings.Contains(logs, aftercare.MaskPhone(client)) {
			t.Errorf("%s logs never mention the masked number; is the check looking at the right logs?", name)
		}
	}
}

// wantMetrics scrapes a program's /metrics and checks each line is there.
func (s *system) wantMetrics(p *program, lines ...string) {
	s.t.Helper()
	status, body := s.call(p, http.MethodGet, "/metrics", "", "")
	if status != http.StatusOK {
		s.t.Fatalf("/metrics: %d", status)
	}
	for _, line := range lines {
		if !strings.Contains(string(body), "\n"+line+"\n") {
			s.t.Errorf("/metrics lacks %q", line)
		}
	}
}

// Forged, missing and wrong-URL signatures are refused with 403 and
// nothing is stored.
func TestForgedWebhooksRefused(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	worker := s.start("worker")
	params := twiliotest.Inbound(newSID(), "+447700900601", harbourNumber, "STOP")
	for name, sig := range map[string]string{
		"missing":    "-",
		"forged":     "dGhpcyBpcyBub3QgYSBzaWduYXR1cmU=",
		"other key":  twiliotest.Sign("anotheraccountstoken000000000001", publicBase+"/v1/twilio/inbound", params),
		"wrong URL":  twiliotest.Sign(twiliotest.AuthToken, "http://"+worker.addr+"/v1/twilio/inbound", params),
		"other body": twiliotest.Sign(twiliotest.AuthToken, publicBase+"/v1/twilio/inbound", twiliotest.Inbound(newSID(), "+447700900601", harbourNumber, "hi")),
	} {
		if res := s.text(worker, params, sig); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s signature: %d, want 403", name, res.StatusCode)
		}
	}
	// A status callback with a forged signature is refused the same way.
	req, _ := http.NewRequest(http.MethodPost, "http://"+worker.addr+"/v1/twilio/status?kind=followup&clinic=harbour&session=x&step=1",
		strings.NewReader(url.Values{"MessageSid": {newSID()}, "MessageStatus": {"delivered"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", "Zm9yZ2Vk")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("forged status callback: %v %v", res, err)
	}
	_, js := s.store()
	for _, stream := range []string{natsjs.StreamReplies, natsjs.StreamDelivery} {
		if n := streamCount(t, js, stream); n != 0 {
			t.Errorf("%s holds %d messages after forged webhooks", stream, n)
		}
	}
	if got := s.messagesTo("+447700900601", 1, 500*time.Millisecond); len(got) != 0 {
		t.Errorf("a forged STOP was answered")
	}
}

// Every opt-out keyword, in any case and with spaces, stops the client's
// pending tips; START brings them back; HELP gives the clinic's name and
// number. With Advanced Opt-Out on (OptOutType set), Twilio has answered
// already, so we do not answer again.
func TestOptOutKeywords(t *testing.T) {
	t.Parallel()
	s := setup(t, "4s,5s,6s")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	keywords := []string{"STOP", " stop ", "StopAll", "UNSUBSCRIBE", "cancel", "END", "Quit", "REVOKE", "optout"}
	start := time.Now()
	phone := func(i int) string { return fmt.Sprintf("+4477009007%02d", i) }
	for i := range keywords {
		s.post(scheduler, event(fmt.Sprintf("o%d", i), fmt.Sprintf("o%d", i), "completed", phone(i), start))
	}
	advanced := len(keywords) // a client of a Messaging Service with Advanced Opt-Out
	s.post(scheduler, event("oa", "oa", "completed", phone(advanced), start))
	helpClient := phone(advanced + 1)
	s.post(scheduler, event("oh", "oh", "completed", helpClient, start))

	for i, kw := range keywords {
		if res := s.text(worker, twiliotest.Inbound(newSID(), phone(i), harbourNumber, kw), ""); res.StatusCode != http.StatusOK {
			t.Fatalf("%q: %d", kw, res.StatusCode)
		}
	}
	adv := twiliotest.Inbound(newSID(), phone(advanced), harbourNumber, "ALTO")
	adv.Set("OptOutType", "STOP")
	s.text(worker, adv, "")
	s.text(worker, twiliotest.Inbound(newSID(), helpClient, harbourNumber, " help "), "")

	for i, kw := range keywords {
		got := s.messagesTo(phone(i), 1, 5*time.Second)
		if len(got) != 1 || !strings.Contains(got[0].Body, "no more aftercare texts") {
			t.Errorf("%q: answers %+v", kw, got)
		}
	}
	help := s.messagesTo(helpClient, 1, 5*time.Second)
	if len(help) != 1 || !strings.Contains(help[0].Body, "Harbour Massage") || !strings.Contains(help[0].Body, "+442079460000") {
		t.Errorf("HELP answer %+v", help)
	}
	// Past every due time: the opted-out got no tips, the HELP client all 3.
	if got := s.messagesTo(helpClient, 4, 12*time.Second); len(got) != 4 {
		t.Errorf("HELP client got %d texts, want the answer and 3 tips", len(got))
	}
	for i, kw := range keywords {
		if got := s.messagesTo(phone(i), 2, 0); len(got) != 1 {
			t.Errorf("%q: client got %d texts after opting out", kw, len(got)-1)
		}
	}
	if got := s.messagesTo(phone(advanced), 1, 0); len(got) != 0 {
		t.Errorf("Advanced Opt-Out: we answered too (%d texts)", len(got))
	}
	store, _ := s.store()
	if out, _ := store.OptedOut(context.Background(), "harbour", phone(advanced)); !out {
		t.Error("Advanced Opt-Out STOP (custom word ALTO) did not opt out")
	}
	// START opts back in.
	s.text(worker, twiliotest.Inbound(newSID(), phone(0), harbourNumber, "Start"), "")
	waitFor(t, 5*time.Second, "opt back in", func() bool {
		out, err := store.OptedOut(context.Background(), "harbour", phone(0))
		return err == nil && !out
	})
	if got := s.messagesTo(phone(0), 2, 5*time.Second); len(got) != 2 || !strings.Contains(got[1].Body, "back on") {
		t.Errorf("START answer %+v", got)
	}
	// Opt-out is per clinic: the same number is not opted out of sol.
	if out, _ := store.OptedOut(context.Background(), "sol", phone(1)); out {
		t.Error("opting out of harbour opted out of sol too")
	}
}

// A reply is tied to the clinic it was sent to. A harbour client texting
// sol's number is unknown to sol: a red flag is escalated to sol (someone
// told sol's line they are getting worse) carrying nothing of harbour's
// records, and harbour's session is untouched. A text to a number no
// clinic uses is recorded, answered from it, and escalated to no one.
func TestRepliesStayWithTheirClinic(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const client = "+447700900801"
	s.post(scheduler, event("i1", "i1", "completed", client, time.Now()))
	store, _ := s.store()
	waitLinked(t, store, client)

	toSol := twiliotest.Inbound(newSID(), client, solNumber, "much worse, chest pain")
	toSol.Set("MessagingServiceSid", solService)
	s.text(worker, toSol, "")
	answer := s.messagesTo(client, 1, 5*time.Second)
	if len(answer) != 1 || !strings.Contains(answer[0].Body, "atencion urgente") || answer[0].MessagingServiceSID != solService {
		t.Fatalf("answer to a stranger of sol: %+v", answer)
	}
	rec, _, err := store.Reply(context.Background(), "sol", toSol.Get("MessageSid"))
	if err != nil || rec.ClinicID != "sol" || rec.SessionID != "" || rec.EscalationID == "" || rec.Class != "red_flag" {
		t.Errorf("sol's record of the text: %+v %v", rec, err)
	}
	if sess, _, err := store.Session(context.Background(), "harbour", "i1"); err != nil || sess.EscalationID != "" {
		t.Errorf("harbour's session changed by a text to sol: %+v %v", sess, err)
	}

	stray := twiliotest.Inbound(newSID(), "+447700900802", "+447700900999", "hello?")
	s.text(worker, stray, "")
	answer = s.messagesTo("+447700900802", 1, 5*time.Second)
	if len(answer) != 1 || !strings.Contains(answer[0].Body, "does not take messages") || answer[0].From != "+447700900999" {
		t.Fatalf("answer from an unused number: %+v", answer)
	}
	if rec, _, err := store.Reply(context.Background(), "", stray.Get("MessageSid")); err != nil || rec.ProcessedAt.IsZero() {
		t.Errorf("unknown-number text not recorded: %+v %v", rec, err)
	}
	var list struct{ Escalations []aftercare.Escalation }
	s.getJSON(scheduler, "/v1/escalations?status=all", token, &list)
	if len(list.Escalations) != 0 {
		t.Errorf("harbour sees escalations of texts to other numbers: %+v", list.Escalations)
	}
	list.Escalations = nil
	s.getJSON(scheduler, "/v1/escalations?status=all", solToken, &list)
	if len(list.Escalations) != 1 || list.Escalations[0].SessionID != "" || list.Escalations[0].ClientName != "" {
		t.Errorf("sol's escalations: %+v, want the one text to sol's line, with no session", list.Escalations)
	}
	if n := len(s.clinic.Wait(1, 0)); n != 0 {
		t.Errorf("harbour's webhook called %d times", n)
	}
	if slices.ContainsFunc(s.twilio.Messages(), func(m twiliotest.Message) bool { return m.To == "+447700900199" }) {
		t.Error("harbour's on-call phone was texted")
	}
}

// status posts a delivery status callback to the URL the message named, as
// Twilio does, signed over that full URL.
func (s *system) status(worker *program, callback string, params url.Values) int {
	s.t.Helper()
	u, err := url.Parse(callback)
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+worker.addr+u.RequestURI(), strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(twiliotest.AuthToken, callback, params))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Twilio's delivery statuses are recorded against the follow-up, out of
// order or not; a permanent failure code marks the number failing, and the
// next tip is not sent to it.
func TestDeliveryStatusCallbacks(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,3s,5s")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const good, bad = "+447700900901", "+447700900902"
	s.post(scheduler, event("d1", "d1", "completed", good, time.Now()))
	s.post(scheduler, event("d2", "d2", "completed", bad, time.Now()))
	first := s.messagesTo(good, 1, 10*time.Second)
	failing := s.messagesTo(bad, 1, 10*time.Second)
	if len(first) != 1 || len(failing) != 1 {
		t.Fatalf("first tips: %d, %d", len(first), len(failing))
	}
	store, _ := s.store()
	callback := func(m twiliotest.Message, status, code string) {
		p := url.Values{"MessageSid": {m.SID}, "MessageStatus": {status}, "To": {m.To}, "From": {m.From}, "AccountSid": {twiliotest.AccountSID}}
		if code != "" {
			p.Set("ErrorCode", code)
		}
		if got := s.status(worker, m.StatusCallback, p); got != http.StatusNoContent {
			t.Fatalf("status %s: %d", status, got)
		}
	}
	// delivered arrives before sent: sent must not overwrite it.
	callback(first[0], "queued", "")
	callback(first[0], "delivered", "")
	callback(first[0], "sent", "")
	waitFor(t, 5*time.Second, "delivered recorded", func() bool {
		f, _, err := store.FollowUp(context.Background(), "harbour", "d1", 1)
		return err == nil && f.Delivery == "delivered"
	})
	callback(failing[0], "undelivered", "30005") // unknown or inactive number
	waitFor(t, 5*time.Second, "number marked failing", func() bool {
		reason, err := store.DoNotText(context.Background(), "harbour", bad)
		return err == nil && strings.Contains(reason, "number failing: Twilio error 30005")
	})
	f, _, _ := store.FollowUp(context.Background(), "harbour", "d2", 1)
	if f.Delivery != "undelivered" || !strings.Contains(f.DeliveryError, "30005") {
		t.Errorf("failed follow-up record: %+v", f)
	}
	time.Sleep(time.Second) // the "sent" callback above is processed by now too
	if f, _, _ := store.FollowUp(context.Background(), "harbour", "d1", 1); f.Delivery != "delivered" {
		t.Errorf("a late 'sent' overwrote 'delivered': %q", f.Delivery)
	}
	if got := s.messagesTo(good, 3, 10*time.Second); len(got) != 3 {
		t.Errorf("working number got %d tips, want 3", len(got))
	}
	if got := s.messagesTo(bad, 2, 0); len(got) != 1 {
		t.Errorf("failing number got %d tips, want only the first", len(got))
	}
	if f, _, _ := store.FollowUp(context.Background(), "harbour", "d2", 2); f.Status != aftercare.FollowUpSkipped || !strings.Contains(f.Reason, "number failing") {
		t.Errorf("step 2 to a failing number: %+v", f)
	}
	// A text from the number proves it works again: the mark is lifted.
	s.text(worker, twiliotest.Inbound(newSID(), bad, harbourNumber, "better thanks"), "")
	waitFor(t, 5*time.Second, "failing mark lifted", func() bool {
		reason, err := store.DoNotText(context.Background(), "harbour", bad)
		return err == nil && reason == ""
	})
	// A callback for a session the service never asked about is refused.
	if got := s.status(worker, publicBase+"/v1/twilio/status?kind=followup&clinic=nowhere&session=x&step=1",
		url.Values{"MessageSid": {newSID()}, "MessageStatus": {"delivered"}}); got != http.StatusBadRequest {
		t.Errorf("callback for an unknown clinic: %d, want 400", got)
	}
}

// The clinic's webhook is down when a client gets worse: the on-call text
// goes at once, the webhook is retried with backoff and delivered once it
// is back, exactly once.
func TestEscalationWebhookRetried(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	const client = "+447700900951"
	s.post(scheduler, event("w1", "w1", "completed", client, time.Now()))
	store, _ := s.store()
	waitLinked(t, store, client)
	s.clinic.Down.Store(true)
	s.text(worker, twiliotest.Inbound(newSID(), client, harbourNumber, "pain is 8/10 now"), "")
	if got := s.messagesTo("+447700900199", 1, 5*time.Second); len(got) != 1 {
		t.Fatalf("on-call texts while the webhook is down: %d", len(got))
	}
	var e aftercare.Escalation
	waitFor(t, 10*time.Second, "failed webhook attempts", func() bool {
		list, err := store.Escalations(context.Background(), "harbour")
		if err == nil && len(list) == 1 {
			e = list[0]
		}
		return e.Notice.WebhookAttempts >= 2
	})
	if e.Notice.WebhookError == "" || !e.Notice.WebhookDeliveredAt.IsZero() || e.Class != "worsening" {
		t.Errorf("escalation while the webhook is down: %+v", e)
	}
	s.clinic.Down.Store(false)
	if got := s.clinic.Wait(1, 10*time.Second); len(got) != 1 || got[0].Payload.Escalation.ID != e.ID {
		t.Fatalf("webhook after recovery: %+v", got)
	}
	time.Sleep(2 * time.Second)
	if got := s.clinic.Wait(2, 0); len(got) != 1 {
		t.Errorf("webhook delivered %d times, want once", len(got))
	}
	if got := s.messagesTo("+447700900199", 2, 0); len(got) != 1 {
		t.Errorf("on-call texted %d times, want once", len(got))
	}
}
