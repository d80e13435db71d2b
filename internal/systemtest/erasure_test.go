package systemtest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/quota"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// staffAdmin makes a harbour clinic_admin with the scheduler's own command,
// under the settings the programs run with (staffAdd's leave out
// ALLOW_ANY_SEND_WINDOW, which the test clinics' windows need).
func (s *system) staffAdmin(t *testing.T, email, password string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "scheduler"), "staff", "add", "-clinic", "harbour", "-email", email, "-name", "Ada Admin", "-role", "clinic_admin", "-password-stdin")
	cmd.Env = []string{"NATS_URL=" + s.natsURL, "CLINICS_FILE=" + s.clinics, "HARBOUR_TOKEN=" + token, "SOL_TOKEN=" + solToken,
		"HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "ALLOW_ANY_SEND_WINDOW=true", "LOG_LEVEL=error"}
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("staff add %s: %v\n%s", email, err, out)
	}
}

// staffReply signs in to the inbox over HTTP and replies to a conversation
// as a person would, CSRF token and all.
func (s *system) staffReply(t *testing.T, base, email, password, conv, body string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/inbox/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(base + "/inbox/c/" + conv)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("conversation page: %d %s", resp.StatusCode, page)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/inbox/c/"+conv+"/reply", strings.NewReader(url.Values{"csrf": {string(m[1])}, "body": {body}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("staff reply: %d", resp.StatusCode)
	}
}

// A client with a session, texts both ways (a tip that failed for good and
// was dead-lettered, their reply, a staff reply from the inbox) and timers
// still waiting: the clinic exports what is held, then erases it. After
// that the number, in every form it is stored in, is in no stream message,
// no bucket key or value (history and markers included), no dead letter,
// no spooled file and no log line of either program. The audit trail is
// kept, and the answer says so, but holds neither the staff reply's text
// nor any id that leads back to the number. The clinic has
// erase_at_twilio: the client's texts are deleted from Twilio's logs too
// (the stand-in's), through twilio-go. Another client's data is untouched.
func TestClientErasedEverywhere(t *testing.T) {
	t.Parallel()
	s := setup(t, "2s,1h,2h") // the first tip at once; two timers left waiting
	// Harbour has Twilio forget an erased client's texts too.
	cfg, err := os.ReadFile(s.clinics)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `"intake_token_env":"HARBOUR_TOKEN",`, `"intake_token_env":"HARBOUR_TOKEN","erase_at_twilio":true,`, 1))
	if err := os.WriteFile(s.clinics, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	scheduler := s.start("scheduler", "INBOX_COOKIE_SECURE=false")
	worker := s.start("worker")
	s.staffAdmin(t, "admin@harbour.example", "ada's long password")
	store, js := s.store()
	const client, neighbour = "+447700900611", "+447700900612"

	// The first tip fails for good: dead-lettered, the number marked failing.
	s.twilio.Script(twiliotest.Reply{Status: 400, Code: 21211})
	if status, _ := s.post(scheduler, event("er-1", "er-client", "completed", client, time.Now())); status != http.StatusAccepted {
		t.Fatalf("client's session: %d", status)
	}
	if dl := s.deadLetter(t, js, "deadletter.followup.harbour.er-client.1"); dl == nil {
		t.Fatal("no dead letter for the client's first tip")
	}
	if status, _ := s.post(scheduler, event("er-2", "er-neighbour", "completed", neighbour, time.Now())); status != http.StatusAccepted {
		t.Fatalf("neighbour's session: %d", status)
	}
	s.messagesTo(neighbour, 1, 15*time.Second)
	// The client texts (which clears the failing mark), and the clinic answers.
	// Its SID is its own: the stand-in numbers the texts it takes from 1,
	// as newSID does, and Twilio's SIDs never collide.
	const textSID = "SMe7a5e000000000000000000000000001"
	if res := s.text(worker, twiliotest.Inbound(textSID, client, harbourNumber, "thanks, feeling much better today"), ""); res.StatusCode != http.StatusOK {
		t.Fatalf("client's text: %d", res.StatusCode)
	}
	waitFor(t, 10*time.Second, "the client's text handled", func() bool {
		rec, _, err := store.Reply(context.Background(), "harbour", textSID)
		return err == nil && !rec.ProcessedAt.IsZero()
	})
	conv := inbox.ConversationID("harbour", client)
	const staffText = "Thanks for letting us know, keep moving gently"
	s.staffReply(t, "http://"+scheduler.addr, "admin@harbour.example", "ada's long password", conv, staffText)
	if got := s.messagesTo(client, 1, 15*time.Second); len(got) == 0 {
		t.Fatal("the staff reply did not reach the client")
	}
	waitFor(t, 10*time.Second, "the staff reply recorded as sent", func() bool {
		outs, err := (&inbox.Store{S: store}).Outbound(context.Background(), "harbour", conv)
		return err == nil && len(outs) == 1 && outs[0].SID != ""
	})

	var x erasure.Export
	if status := s.getJSON(scheduler, "/v1/clients/%2B447700900611/export", token, &x); status != http.StatusOK {
		t.Fatalf("export: %d", status)
	}
	if len(x.Sessions) != 1 || len(x.Sessions[0].FollowUps) != 3 || len(x.Replies) != 1 || len(x.Conversation.StaffReplies) != 1 || len(x.DeadLetters) == 0 {
		t.Fatalf("export: %d sessions, %d replies, %d staff replies, %d dead letters", len(x.Sessions), len(x.Replies), len(x.Conversation.StaffReplies), len(x.DeadLetters))
	}
	if !x.Sessions[0].FollowUps[2].TimerPending {
		t.Errorf("export: step 3's timer is not shown waiting: %+v", x.Sessions[0].FollowUps[2])
	}

	job, body := s.erase(t, scheduler, "%2B447700900611")
	res := job.Result
	if !res.Erased.ClientRecord || res.Erased.Sessions != 1 || res.Erased.Replies != 1 || res.Erased.StaffReplies != 1 || res.Erased.DeadLetters == 0 {
		t.Errorf("erased: %+v", res.Erased)
	}
	if len(res.Kept) != 1 || res.Kept[0].What != "audit_entries" || res.Kept[0].Why == "" {
		t.Errorf("kept: %+v, want the audit trail, with why", res.Kept)
	}
	if strings.Contains(string(body), "447700900611") {
		t.Errorf("the answer holds the number: %s", body)
	}
	if res.AtTwilio == 0 {
		t.Errorf("no texts queued for deletion at Twilio: %s", body)
	}
	waitFor(t, 15*time.Second, "the client's texts deleted at Twilio", func() bool { return len(s.messagesTo(client, 1, 0)) == 0 })
	if len(s.twilio.Deleted()) == 0 || len(s.messagesTo(neighbour, 1, 0)) == 0 {
		t.Errorf("at Twilio: deleted %v; the neighbour's texts %d", s.twilio.Deleted(), len(s.messagesTo(neighbour, 1, 0)))
	}

	// The audit trail is kept, and searched too: it holds neither the
	// staff reply's text nor the conversation's inbox id (an unsalted hash
	// of clinic and number, as conv is: reversible by hashing every number).
	needles := []string{"447700900611", natsjs.Token(client), quota.RecipientToken(client), conv, "harbour.er-client", staffText}
	for _, hit := range natsjstest.Find(t, js, nil, needles...) {
		t.Errorf("after erasure: %s", hit)
	}
	spooled, _ := filepath.Glob(filepath.Join(filepath.Dir(s.clinics), "spool", "*"))
	for _, f := range spooled {
		if data, err := os.ReadFile(f); err == nil && strings.Contains(string(data), "447700900611") {
			t.Errorf("spooled file %s holds the number", f)
		}
	}
	for name, p := range map[string]*program{"scheduler": scheduler, "worker": worker} {
		if strings.Contains(p.Logs(), "447700900611") {
			t.Errorf("%s's logs hold the number", name)
		}
	}
	if n := natsjstest.CountSubjects(t, js, natsjs.StreamAudit, "staffaudit.harbour.conversation.>"); n < 2 {
		t.Errorf("%d conversation entries in the audit trail, want the reply's and the erasure's kept", n)
	}
	// Nothing links what is kept to the number: an export finds nothing.
	if status, body := s.call(scheduler, http.MethodGet, "/v1/clients/%2B447700900611/export", token, ""); status != http.StatusNotFound {
		t.Errorf("export after erasure: %d %s, want 404", status, body)
	}
	var other erasure.Export
	if status := s.getJSON(scheduler, "/v1/clients/%2B447700900612/export", token, &other); status != http.StatusOK || len(other.Sessions) != 1 || other.Client == nil {
		t.Errorf("the neighbour's export: %d %+v", status, other)
	}
}
