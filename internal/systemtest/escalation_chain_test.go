package systemtest

import (
	"context"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/email/emailtest"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

const (
	backupPhone = "+447700900188"
	clinicEmail = "frontdesk@harbour.example"
)

// chainClinicsJSON is harbour with a short chain: unacknowledged after 3 s,
// text and call the backup; after 6 s, email the clinic.
const chainClinicsJSON = `{"clinics":[{"id":"harbour","name":"Harbour Massage","time_zone":"Europe/London",
 "send_window":"* * * * *","locale":"en","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
 "intake_token_env":"HARBOUR_TOKEN",
 "escalation":{"on_call_phone":"+447700900199","webhook_url":"%s","webhook_secret_env":"HARBOUR_WEBHOOK_SECRET",
  "email":"` + clinicEmail + `",
  "chain":[{"after":"3s","text":["` + backupPhone + `"],"call":["` + backupPhone + `"]},{"after":"6s","email":true}]}}]}`

type chainSystem struct {
	*system
	mail *emailtest.Server
}

func setupChain(t *testing.T) chainSystem {
	t.Helper()
	s := setup(t, "1h,2h,3h")
	if err := os.WriteFile(s.clinics, []byte(fmt.Sprintf(chainClinicsJSON, s.clinic.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	mail, err := emailtest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Close)
	return chainSystem{system: s, mail: mail}
}

func (s chainSystem) worker() *program {
	return s.start("worker", "SMTP_HOST="+s.mail.Host, "SMTP_PORT="+strconv.Itoa(s.mail.Port), "SMTP_FROM=aftercare@example.org", "SMTP_TLS=none")
}

// redFlag has a client with a session text a red flag; it returns when the
// text reached the worker.
func (s chainSystem) redFlag(t *testing.T, scheduler, worker *program, client, session string) time.Time {
	t.Helper()
	s.post(scheduler, event("e-"+session, session, "completed", client, time.Now()))
	store, _ := s.store()
	waitLinked(t, store, client)
	sent := time.Now()
	if res := s.text(worker, twiliotest.Inbound(newSID(), client, harbourNumber, "worse today and my left leg is numb"), ""); res.StatusCode != http.StatusOK {
		t.Fatalf("inbound webhook: %d", res.StatusCode)
	}
	return sent
}

var ackCode = regexp.MustCompile(`Reply ACK ([0-9]{4})`)

// pages returns the texts and calls to the backup phone so far.
func (s chainSystem) pages() (texts []twiliotest.Message, calls []twiliotest.Call) {
	return s.messagesTo(backupPhone, 1, 0), s.twilio.Calls()
}

// Nobody acknowledges: the on-call phone is texted at once, the backup is
// texted and called after the first deadline, and the clinic is emailed
// after the second, with a reference and no client details.
func TestChainPagesBackupThenEmailsWhenNobodyAcknowledges(t *testing.T) {
	t.Parallel()
	s := setupChain(t)
	scheduler := s.start("scheduler")
	worker := s.worker()
	const client = "+447700900601"
	sent := s.redFlag(t, scheduler, worker, client, "c1")

	onCall := s.messagesTo("+447700900199", 1, 10*time.Second)
	if len(onCall) != 1 || !ackCode.MatchString(onCall[0].Body) {
		t.Fatalf("on-call alert %+v: want one, with an ACK code", onCall)
	}
	code := ackCode.FindStringSubmatch(onCall[0].Body)[1]
	texts := s.messagesTo(backupPhone, 1, 15*time.Second)
	var calls []twiliotest.Call
	waitFor(t, 10*time.Second, "the backup's call", func() bool { calls = s.twilio.Calls(); return len(calls) >= 1 })
	if len(texts) != 1 || !strings.Contains(texts[0].Body, "ACK "+code) || calls[0].To != backupPhone ||
		!strings.Contains(calls[0].Twiml, "needs a call back") || strings.Contains(calls[0].Twiml, "447700900601") || strings.Contains(calls[0].Twiml, "numb") {
		t.Fatalf("backup pages: texts %+v, calls %+v", texts, calls)
	}
	if early := texts[0].At.Sub(onCall[0].At); early < 3*time.Second-time.Second {
		t.Errorf("backup paged %v after the on-call text; its deadline is 3 s after raising", early)
	}
	waitFor(t, 15*time.Second, "the clinic's email", func() bool { return len(s.mail.Mails()) >= 1 })
	mails := s.mail.Mails()
	decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(mails[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 || mails[0].To[0] != clinicEmail || !strings.Contains(string(decoded), "nobody has acknowledged") || !strings.Contains(string(decoded), "ACK "+code) {
		t.Fatalf("emails %+v", mails)
	}
	for _, secret := range []string{"447700900601", "numb", "worse today"} {
		if strings.Contains(string(decoded), secret) {
			t.Errorf("the email holds %q: it must carry a reference only", secret)
		}
	}
	t.Logf("red-flag reply to on-call text: %v", onCall[0].At.Sub(sent).Round(time.Millisecond))
	t.Logf("red-flag reply to backup text: %v (deadline 3s), to backup call: %v", texts[0].At.Sub(sent).Round(time.Millisecond), calls[0].At.Sub(sent).Round(time.Millisecond))
	t.Logf("red-flag reply to clinic email: %v (deadline 6s)", mails[0].At.Sub(sent).Round(time.Millisecond))

	// Each step fired once.
	time.Sleep(time.Second)
	if texts, calls := s.pages(); len(texts) != 1 || len(calls) != 1 || len(s.mail.Mails()) != 1 {
		t.Errorf("after the chain: %d backup texts, %d calls, %d emails; want one each", len(texts), len(calls), len(s.mail.Mails()))
	}
	var e aftercare.Escalation
	var list struct{ Escalations []aftercare.Escalation }
	s.getJSON(scheduler, "/v1/escalations", token, &list)
	if len(list.Escalations) == 1 {
		e = list.Escalations[0]
	}
	steps := 0
	for _, h := range e.History {
		if h.Kind == aftercare.EntryChainStep {
			steps++
		}
	}
	if e.Status != aftercare.EscalationOpen || steps != 2 || e.AckCode != code {
		t.Errorf("the clinic's view: status %s, %d chain steps in the history, code %q", e.Status, steps, e.AckCode)
	}
}

// The on-call person replies "ACK <code>" to the alert: it is theirs, they
// are told so, and no later step fires. A wrong code gets a clear answer.
func TestAckReplyStopsTheChain(t *testing.T) {
	t.Parallel()
	s := setupChain(t)
	scheduler := s.start("scheduler")
	worker := s.worker()
	store, _ := s.store()
	sent := s.redFlag(t, scheduler, worker, "+447700900602", "c2")
	onCall := s.messagesTo("+447700900199", 1, 10*time.Second)
	if len(onCall) != 1 || !ackCode.MatchString(onCall[0].Body) {
		t.Fatalf("on-call alert %+v", onCall)
	}
	code := ackCode.FindStringSubmatch(onCall[0].Body)[1]
	wrong := "0000"
	s.textAndWait(t, worker, store, "+447700900199", "ACK "+wrong)
	rec := s.textAndWait(t, worker, store, "+447700900199", "ACK "+code)
	answers := s.messagesTo("+447700900199", 3, 5*time.Second)
	if len(answers) != 3 || !strings.Contains(answers[1].Body, "no escalation has code 0000") || !strings.Contains(answers[2].Body, "you own escalation") {
		t.Fatalf("answers to the on-call phone %+v", answers)
	}
	if rec.Keyword != "ACK" || rec.Class != "" || rec.EscalationID != "" {
		t.Errorf("the ACK text was handled as a client's: %+v", rec)
	}
	t.Logf("red-flag reply to acknowledged by text: %v", time.Since(sent).Round(time.Millisecond))

	time.Sleep(time.Until(sent.Add(9 * time.Second))) // past both deadlines
	if texts, calls := s.pages(); len(texts) != 0 || len(calls) != 0 || len(s.mail.Mails()) != 0 {
		t.Fatalf("after ACK: %d backup texts, %d calls, %d emails; want none", len(texts), len(calls), len(s.mail.Mails()))
	}
	var list struct{ Escalations []aftercare.Escalation }
	s.getJSON(scheduler, "/v1/escalations?status=all", token, &list)
	if len(list.Escalations) != 1 {
		t.Fatalf("escalations %+v", list)
	}
	e := list.Escalations[0]
	if e.Status != aftercare.EscalationAcknowledged || e.AcknowledgedBy != "on-call phone" || e.Owner == nil || e.Owner.Kind != aftercare.AuthorPhone ||
		len(e.History) != 1 || e.History[0].Kind != aftercare.EntryAcknowledged {
		t.Errorf("the clinic's view: %s by %q, history %+v", e.Status, e.AcknowledgedBy, e.History)
	}
}

// The worker is stopped before the first deadline and started after it,
// then killed once step 1 has texted the backup (its call maybe not yet
// made): each page is still made, once.
func TestChainSurvivesWorkerRestart(t *testing.T) {
	t.Parallel()
	s := setupChain(t)
	scheduler := s.start("scheduler")
	worker := s.worker()
	sent := s.redFlag(t, scheduler, worker, "+447700900603", "c3")
	if got := s.messagesTo("+447700900199", 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d on-call alerts", len(got))
	}
	s.stop(worker, syscall.SIGTERM)
	time.Sleep(time.Until(sent.Add(4 * time.Second))) // step 1 falls due with no worker
	worker = s.worker()
	texts := s.messagesTo(backupPhone, 1, 15*time.Second)
	if len(texts) != 1 {
		t.Fatalf("%d backup texts after the restart", len(texts))
	}
	// Killed once the text is recorded as done: a kill between Twilio's
	// answer and that record would send it again, which the README owns
	// to. The call may not be made yet.
	store, _ := s.store()
	waitFor(t, 10*time.Second, "step 1's text recorded", func() bool {
		list, err := store.Escalations(context.Background(), "harbour")
		return err == nil && len(list) == 1 && list[0].Chain.ActionDone(1, "text:"+backupPhone)
	})
	killed := time.Now()
	s.stop(worker, syscall.SIGKILL)
	time.Sleep(time.Until(sent.Add(7 * time.Second))) // step 2 falls due with no worker
	s.worker()
	// If the kill came before the call, step 1's timer comes back after
	// AckWait (6 s here) and only the call is made. Count after that
	// redelivery, so that a page made twice would show.
	waitFor(t, 15*time.Second, "the clinic's email", func() bool { return len(s.mail.Mails()) >= 1 })
	waitFor(t, 15*time.Second, "the backup's call", func() bool { return len(s.twilio.Calls()) >= 1 })
	time.Sleep(time.Until(killed.Add(6*time.Second + 2*time.Second)))
	if texts, calls := s.pages(); len(texts) != 1 || len(calls) != 1 || len(s.mail.Mails()) != 1 {
		t.Fatalf("across restarts: %d backup texts, %d calls, %d emails; want one each", len(texts), len(calls), len(s.mail.Mails()))
	}
}
