package systemtest

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// The security tests: each attack is refused with the right status and
// writes nothing. docs/security.md is the threat model they stand behind.

const solBookingSecret = "sol-booking-webhook-key-00000001"

// crossClinicSetup gives both clinics a cal.com webhook, each with its own
// secret, and starts the programs.
func crossClinicSetup(t *testing.T) (*system, *program, *program) {
	s := setup(t, "1h,2h,3h")
	var doc struct {
		Clinics []map[string]any `json:"clinics"`
	}
	if err := json.Unmarshal([]byte(fmt.Sprintf(clinicsJSON, s.clinic.URL)), &doc); err != nil {
		t.Fatal(err)
	}
	doc.Clinics[0]["booking"] = map[string]any{"calcom": map[string]string{"secret_env": "BOOKING_KEY"}}
	doc.Clinics[1]["booking"] = map[string]any{"calcom": map[string]string{"secret_env": "SOL_BOOKING_KEY"}}
	raw, _ := json.Marshal(doc)
	if err := os.WriteFile(s.clinics, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"BOOKING_KEY=" + bookingSecret, "SOL_BOOKING_KEY=" + solBookingSecret}
	return s, s.start("scheduler", env...), s.start("worker", env...)
}

func calcomSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// One clinic can neither write into another's data (an event in its name,
// a booking webhook signed with its own secret for the other's URL, a
// cancellation of the other's session) nor read or act on it (sessions,
// escalations). Every attempt is refused or lands in the attacker's own
// space, and the victim's records are as they were.
func TestOneClinicCannotReachAnother(t *testing.T) {
	t.Parallel()
	s, scheduler, worker := crossClinicSetup(t)
	const client = "+447700900701"
	s.post(scheduler, event("v1", "victim-1", "completed", client, time.Now()))
	store, js := s.store()
	waitLinked(t, store, client)
	s.text(worker, twiliotest.Inbound(newSID(), client, harbourNumber, "much worse, chest pain"), "")
	var esc aftercare.Escalation
	waitFor(t, 10*time.Second, "escalation", func() bool {
		list, _ := store.Escalations(context.Background(), "harbour")
		if len(list) == 1 {
			esc = list[0]
		}
		return len(list) == 1
	})
	harbourEvents := natsjstest.CountSubjects(t, js, natsjs.StreamSessions, "sessions.harbour.>")

	// Writes in harbour's name with sol's credentials.
	inHarbourName := strings.Replace(event("a1", "victim-1", "cancelled", "", time.Time{}), `"event_id"`, `"clinic_id":"harbour","event_id"`, 1)
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", solToken, inHarbourName); status != http.StatusForbidden {
		t.Errorf("sol posting an event for harbour: %d %s, want 403", status, body)
	}
	created := []byte(`{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"victim-1"}}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+scheduler.addr+"/v1/hooks/calcom/harbour", strings.NewReader(string(created)))
	req.Header.Set("X-Cal-Signature-256", calcomSignature(solBookingSecret, created))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("cal.com webhook for harbour signed with sol's secret: %v %v, want 401", res, err)
	}
	// Reads and actions on harbour's data with sol's credential.
	for _, call := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/sessions/victim-1", ""},
		{http.MethodGet, "/v1/escalations/" + esc.ID, ""},
		{http.MethodPost, "/v1/escalations/" + esc.ID + "/acknowledge", `{"by":"intruder"}`},
		{http.MethodPost, "/v1/escalations/" + esc.ID + "/resolve", `{"by":"intruder","note":"nothing to see"}`},
	} {
		if status, body := s.call(scheduler, call.method, call.path, solToken, call.body); status != http.StatusNotFound {
			t.Errorf("sol %s %s: %d %s, want 404", call.method, call.path, status, body)
		}
	}
	var list struct{ Escalations []aftercare.Escalation }
	s.getJSON(scheduler, "/v1/escalations?status=all", solToken, &list)
	if len(list.Escalations) != 0 {
		t.Errorf("sol lists %d of harbour's escalations", len(list.Escalations))
	}

	// Sol cancelling "victim-1" cancels sol's own session of that name.
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", solToken, event("a2", "victim-1", "cancelled", "", time.Time{})); status != http.StatusAccepted {
		t.Errorf("sol cancelling its own session id: %d %s", status, body)
	}

	// Once the planner has applied it, sol sees its own empty session, and
	// harbour's records are as they were.
	var own struct {
		Status      string `json:"status"`
		ClientPhone string `json:"client_phone"`
	}
	waitFor(t, 10*time.Second, "sol's own victim-1", func() bool {
		return s.getJSON(scheduler, "/v1/sessions/victim-1", solToken, &own) == http.StatusOK
	})
	if own.Status != "cancelled" || own.ClientPhone != "" {
		t.Errorf("sol reading its own victim-1: %+v, want its own empty, cancelled record", own)
	}
	if n := natsjstest.CountSubjects(t, js, natsjs.StreamSessions, "sessions.harbour.>"); n != harbourEvents {
		t.Errorf("harbour's event stream went from %d to %d messages", harbourEvents, n)
	}
	sess, _, err := store.Session(context.Background(), "harbour", "victim-1")
	if err != nil || sess.Status != aftercare.SessionActive {
		t.Errorf("harbour's session after sol's attempts: %+v %v", sess, err)
	}
	now, _, err := store.Escalation(context.Background(), "harbour", esc.ID)
	if err != nil || now.Status != aftercare.EscalationOpen || now.AcknowledgedBy != "" || now.ResolvedBy != "" {
		t.Errorf("harbour's escalation after sol's attempts: %+v %v", now, err)
	}
}

// Twilio's signature has no timestamp, so a captured request stays valid:
// what makes a replay harmless is that each MessageSid is handled once.
// Forged, missing, other-key and other-URL signatures are refused with 403
// in TestForgedWebhooksRefused; here a replay (a stale, genuine signature)
// is accepted, as Twilio's retries must be, and does nothing.
func TestReplayedTwilioWebhookDoesNothing(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	worker := s.start("worker")
	params := twiliotest.Inbound(newSID(), "+447700900702", harbourNumber, "HELP")
	for range 3 {
		if res := s.text(worker, params, ""); res.StatusCode != http.StatusOK {
			t.Fatalf("genuine webhook: %d", res.StatusCode)
		}
	}
	if got := s.messagesTo("+447700900702", 2, 2*time.Second); len(got) != 1 {
		t.Errorf("%d answers to one HELP sent three times, want 1", len(got))
	}
	_, js := s.store()
	if n := streamCount(t, js, natsjs.StreamReplies); n != 1 {
		t.Errorf("replies stream holds %d messages, want 1", n)
	}
}

// Bodies over the limit get 413 from every endpoint that takes one, before
// any of it is parsed or stored.
func TestOversizedBodiesRefused(t *testing.T) {
	t.Parallel()
	s, scheduler, worker := crossClinicSetup(t)
	huge := strings.Repeat("a", 2<<20)
	for _, c := range []struct {
		p           *program
		path, ctype string
		body        string
	}{
		{scheduler, "/v1/sessions", "application/json", `{"event_id":"` + huge + `"}`},
		{scheduler, "/v1/hooks/calcom/harbour", "application/json", `{"x":"` + huge + `"}`},
		{worker, "/v1/twilio/inbound", "application/x-www-form-urlencoded", "Body=" + huge},
		{worker, "/v1/twilio/status", "application/x-www-form-urlencoded", "MessageStatus=" + huge},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+c.p.addr+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: %v", c.path, err) // a reset before the answer is a refusal too, but say so
			continue
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with 2 MiB: %d, want 413", c.path, res.StatusCode)
		}
	}
	_, js := s.store()
	for _, stream := range []string{natsjs.StreamSessions, natsjs.StreamReplies, natsjs.StreamDelivery} {
		if n := streamCount(t, js, stream); n != 0 {
			t.Errorf("%s holds %d messages after oversized bodies", stream, n)
		}
	}
}

// A client that sends its request a byte at a time cannot hold a
// connection: the server's header and body read timeouts (5 s and 15 s)
// close it, and nothing is stored.
func TestSlowClientsCutOff(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	var wg sync.WaitGroup
	for _, c := range []struct {
		name, addr, request string
		within              time.Duration
	}{
		{"slow headers to the scheduler", scheduler.addr, "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nX-Slow: ", 8 * time.Second},
		{"slow body to the scheduler", scheduler.addr, "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
			"\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"event_id\":\"", 20 * time.Second},
		{"slow headers to the worker", worker.addr, "POST /v1/twilio/inbound HTTP/1.1\r\nHost: x\r\nX-Slow: ", 8 * time.Second},
	} {
		wg.Go(func() {
			held := slowClient(t, c.addr, c.request, c.within+5*time.Second)
			if held > c.within {
				t.Errorf("%s: connection held %v, want it closed within %v", c.name, held.Round(time.Second), c.within)
			}
			t.Logf("%s: closed after %v", c.name, held.Round(100*time.Millisecond))
		})
	}
	wg.Wait()
	_, js := s.store()
	if n := streamCount(t, js, natsjs.StreamSessions); n != 0 {
		t.Errorf("%d events stored from slow clients", n)
	}
}

// slowClient writes request, then one more byte a second, until the server
// closes the connection or giveUp passes; it returns how long it was held.
func slowClient(t *testing.T, addr, request string, giveUp time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err) // not Fatal: this runs on its own goroutine
		return 0
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte(request)); err != nil {
		t.Error(err) // not Fatal: this runs on its own goroutine
		return 0
	}
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
		close(closed)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(start) < giveUp {
		select {
		case <-closed:
			return time.Since(start)
		case <-tick.C:
			if _, err := conn.Write([]byte("a")); err != nil {
				return time.Since(start)
			}
		}
	}
	return time.Since(start)
}

// Text that tries to forge log lines or response headers: in a client's
// reply (CR LF, a fake JSON log record, a Set-Cookie line) and in the ids
// of a session event. Control characters in ids are refused (422); a
// reply's text is stored as sent, never logged; every log line stays one
// JSON record and no forged header appears.
func TestHeaderAndLogInjection(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	forged := "\r\n{\"level\":\"ERROR\",\"msg\":\"forged entry\"}\r\nSet-Cookie: session=stolen\r\n"

	body := strings.Replace(event("inj-1", "inj"+forged, "completed", "+447700900703", time.Now()), `"event_id":"inj-1"`, `"event_id":"inj-1`+jsonEscape(forged)+`"`, 1)
	req, _ := http.NewRequest(http.MethodPost, "http://"+scheduler.addr+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(out), "control characters") || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("event with CR LF in its ids: %d %s %v", res.StatusCode, out, res.Header)
	}

	sid := newSID()
	text := s.text(worker, twiliotest.Inbound(sid, "+447700900704", harbourNumber, "sore"+forged), "")
	if text.StatusCode != http.StatusOK || text.Header.Get("Set-Cookie") != "" {
		t.Errorf("reply with CR LF: %d %v", text.StatusCode, text.Header)
	}
	store, _ := s.store()
	waitFor(t, 5*time.Second, "reply handled", func() bool {
		rec, _, err := store.Reply(context.Background(), "harbour", sid)
		return err == nil && !rec.ProcessedAt.IsZero() && rec.Body == "sore"+forged
	})

	for name, p := range map[string]*program{"scheduler": scheduler, "worker": worker} {
		sc := bufio.NewScanner(strings.NewReader(p.Logs()))
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Errorf("%s log line is not one JSON record: %q", name, sc.Text())
				continue
			}
			if rec["msg"] == "forged entry" || strings.Contains(sc.Text(), "stolen") {
				t.Errorf("%s logged attacker text: %q", name, sc.Text())
			}
		}
	}
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
