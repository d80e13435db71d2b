// Package systemtest runs the real scheduler and worker programs, built from
// cmd/, against a real nats-server and the Twilio stand-in.
package systemtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation/escalationtest"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aftercare-bin")
	if err != nil {
		panic(err)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/scheduler", "./cmd/worker")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build programs: %v\n%s", err, out)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	token         = "system-test-intake-token-00000001"
	solToken      = "system-test-intake-token-00000002"
	webhookSecret = "system-test-webhook-secret-000001"
)

// Two clinics: harbour, whose escalations go to a local webhook receiver
// and its on-call phone; sol, to check one clinic never sees the other's.
const clinicsJSON = `{"clinics":[{"id":"harbour","name":"Harbour Massage","time_zone":"Europe/London",
 "send_window":"* * * * *","locale":"en","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
 "intake_token_env":"HARBOUR_TOKEN",
 "escalation":{"on_call_phone":"+447700900199","webhook_url":"%s","webhook_secret_env":"HARBOUR_WEBHOOK_SECRET"}},
 {"id":"sol","name":"Fisio Sol","time_zone":"America/Mexico_City","send_window":"* * * * *","locale":"es",
 "sender":{"messaging_service_sid":"MG00000000000000000000000000000001"},"contact_phone":"+525555550100",
 "intake_token_env":"SOL_TOKEN","escalation":{"on_call_phone":"+525555550199"}}]}`

// program is a running scheduler or worker.
type program struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
	mu   *sync.Mutex
}

type system struct {
	t        testing.TB
	natsURL  string
	twilio   *twiliotest.Server
	clinic   *escalationtest.Receiver
	clinics  string
	offsets  string
	ackWait  string
	dataDirs string
	replies  replyBodies
}

func setup(t testing.TB, offsets string) *system {
	t.Helper()
	ns := natsjstest.StartServer(t)
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	receiver := escalationtest.NewReceiver(webhookSecret)
	t.Cleanup(receiver.Close)
	clinics := filepath.Join(t.TempDir(), "clinics.json")
	if err := os.WriteFile(clinics, []byte(fmt.Sprintf(clinicsJSON, receiver.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	return &system{t: t, natsURL: ns.ClientURL(), twilio: stand, clinic: receiver, clinics: clinics, offsets: offsets, ackWait: "6s"}
}

var listening = regexp.MustCompile(`listening on http://(\S+)`)

func (s *system) start(name string, extraEnv ...string) *program {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = append([]string{
		"NATS_URL=" + s.natsURL, "HTTP_ADDR=127.0.0.1:0", "CLINICS_FILE=" + s.clinics, "HARBOUR_TOKEN=" + token,
		"SOL_TOKEN=" + solToken, "HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "ESCALATION_RETRY_BASE_DELAY=200ms", "ESCALATION_RETRY_MAX_DELAY=1s", "ESCALATION_WEBHOOK_TIMEOUT=2s",
		"FOLLOWUP_OFFSETS=" + s.offsets, "ALLOW_ANY_SEND_WINDOW=true", "FREQUENCY_CAP_PER_DAY=0", "FREQUENCY_CAP_PER_WEEK=0", "LOG_LEVEL=debug", "SHUTDOWN_TIMEOUT=10s",
		"SMS_DRIVER=twilio", "TWILIO_ACCOUNT_SID=" + twiliotest.AccountSID, "TWILIO_AUTH_TOKEN=" + twiliotest.AuthToken,
		"TWILIO_API_BASE_URL=" + s.twilio.URL, "TWILIO_TIMEOUT=3s", "WORKER_ACK_WAIT=" + s.ackWait,
		"PUBLIC_BASE_URL=https://aftercare.example", "SEND_RATE_PER_SENDER=50", "SEND_BURST=10",
		"SEND_RETRY_BASE_DELAY=500ms", "SEND_RETRY_MAX_DELAY=2s", "RECONCILE_SCHEDULE=@every 1h",
		"INBOUND_SPOOL_DIR=" + filepath.Join(filepath.Dir(s.clinics), "spool"),
		"ESCALATION_WEBHOOK_ALLOW_LOOPBACK=true", // the clinic's receiver listens on 127.0.0.1
		"BOOKING_API_ALLOW_LOOPBACK=true",        // and so do the booking systems' APIs
	}, extraEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	p := &program{cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd.Stderr = lockedWriter{p}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for _, leak := range logLeaks(p.Logs(), cmd.Env, s.replies.list()) {
			s.t.Errorf("%s logs hold %s", name, leak)
		}
		if s.t.Failed() {
			s.t.Logf("%s logs:\n%s", name, p.Logs())
		}
	})
	addr := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case p.addr = <-addr:
	case <-exited:
		s.t.Fatalf("%s exited at start:\n%s", name, p.Logs())
	case <-time.After(30 * time.Second):
		s.t.Fatalf("%s did not start:\n%s", name, p.Logs())
	}
	s.waitReady(p)
	return p
}

type lockedWriter struct{ p *program }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.logs.Write(b)
}

func (p *program) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (s *system) waitReady(p *program) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("not ready:\n%s", p.Logs())
}

// stop sends sig and waits for the program to exit.
func (s *system) stop(p *program, sig syscall.Signal) {
	s.t.Helper()
	_ = p.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if sig == syscall.SIGTERM && err != nil {
			s.t.Errorf("exit after SIGTERM: %v\n%s", err, p.Logs())
		}
	case <-time.After(20 * time.Second):
		s.t.Fatal("program did not exit")
	}
}

func (s *system) post(scheduler *program, body string) (int, time.Duration) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+scheduler.addr+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	if err != nil {
		s.t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		s.t.Fatalf("post: %d %s", res.StatusCode, out)
	}
	return res.StatusCode, took
}

func event(id, session, kind, phone string, end time.Time) string {
	ev := map[string]any{"event_id": id, "session_id": session, "kind": kind}
	if kind == "completed" {
		ev["session_end"] = end.UTC().Format(time.RFC3339Nano)
		ev["client"] = map[string]string{"phone": phone, "time_zone": "Europe/London", "locale": "en"}
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

// messagesTo waits until want messages to phone have arrived, or the deadline.
func (s *system) messagesTo(phone string, want int, within time.Duration) []twiliotest.Message {
	deadline := time.Now().Add(within)
	for {
		var got []twiliotest.Message
		for _, m := range s.twilio.Messages() {
			if m.To == phone {
				got = append(got, m)
			}
		}
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSessionBecomesThreeTexts(t *testing.T) {
	t.Parallel()
	s := setup(t, "2s,4s,6s")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	_ = worker

	end := time.Now()
	_, took := s.post(scheduler, event("e1", "s1", "completed", "+447700900001", end))
	t.Logf("session event acknowledged in %v", took)
	s.post(scheduler, event("e1", "s1", "completed", "+447700900001", end)) // a repeat changes nothing

	msgs := s.messagesTo("+447700900001", 3, 20*time.Second)
	if len(msgs) != 3 {
		t.Fatalf("%d texts arrived, want 3", len(msgs))
	}
	for i, m := range msgs {
		due := end.Add(time.Duration(2*(i+1)) * time.Second)
		if !strings.HasPrefix(m.Body, fmt.Sprintf("Harbour Massage: Day %d", i+1)) {
			t.Errorf("text %d: %q", i+1, m.Body)
		}
		if m.At.Before(due) {
			t.Errorf("text %d sent %v before it was due", i+1, due.Sub(m.At))
		}
		t.Logf("text %d sent %v after its due time", i+1, m.At.Sub(due).Round(time.Millisecond))
		if !strings.HasPrefix(m.StatusCallback, "https://aftercare.example/v1/twilio/status?") {
			t.Errorf("status callback %q", m.StatusCallback)
		}
	}
	time.Sleep(time.Second)
	if n := len(s.messagesTo("+447700900001", 4, 0)); n != 3 {
		t.Fatalf("%d texts in all, want exactly 3", n)
	}
}

func TestCancelledSessionSendsNothing(t *testing.T) {
	t.Parallel()
	s := setup(t, "2s,3s,4s")
	scheduler := s.start("scheduler")
	s.start("worker")
	s.post(scheduler, event("e1", "s2", "completed", "+447700900002", time.Now()))
	s.post(scheduler, event("e2", "s2", "cancelled", "", time.Time{}))
	if got := s.messagesTo("+447700900002", 1, 6*time.Second); len(got) != 0 {
		t.Fatalf("a cancelled session got %d texts", len(got))
	}
}

// Jobs fall due while no worker runs, and one worker is stopped mid-way:
// every text still goes out exactly once.
func TestWorkerRestartWithJobsInFlight(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	s.stop(worker, syscall.SIGTERM)

	for i := range 5 {
		s.post(scheduler, event(fmt.Sprintf("e%d", i), fmt.Sprintf("r%d", i), "completed", fmt.Sprintf("+44770090010%d", i), time.Now()))
	}
	time.Sleep(2 * time.Second) // some steps fall due with no worker running
	s.twilio.Script(twiliotest.Reply{Delay: 300 * time.Millisecond}, twiliotest.Reply{Status: 503, HTML: true})
	worker = s.start("worker")
	time.Sleep(1500 * time.Millisecond)
	s.stop(worker, syscall.SIGTERM) // mid-way: some sent, some not yet due
	s.start("worker")

	for i := range 5 {
		phone := fmt.Sprintf("+44770090010%d", i)
		got := s.messagesTo(phone, 3, 20*time.Second)
		if len(got) != 3 {
			t.Errorf("%s got %d texts, want 3", phone, len(got))
		}
	}
	time.Sleep(time.Second)
	if n := len(s.twilio.Messages()); n != 15 {
		t.Errorf("%d texts in all, want exactly 15", n)
	}
}

// A worker killed outright while Twilio is answering: nothing is lost, and
// at most the one text in Twilio's hands at the kill is sent twice.
func TestWorkerKilledMidSend(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	scheduler := s.start("scheduler")
	worker := s.start("worker")
	s.twilio.Script(twiliotest.Reply{Delay: 2 * time.Second})
	s.post(scheduler, event("e1", "k1", "completed", "+447700900200", time.Now()))
	deadline := time.Now().Add(10 * time.Second)
	for s.twilio.Requests() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s.stop(worker, syscall.SIGKILL)
	s.start("worker")
	s.messagesTo("+447700900200", 3, 25*time.Second)
	store, _ := s.store()
	waitFor(t, 25*time.Second, "every follow-up recorded as sent", func() bool {
		fs, err := store.FollowUps(context.Background(), "harbour", "k1", 3)
		return err == nil && len(fs) == 3 && fs[0].Status == aftercare.FollowUpSent && fs[1].Status == aftercare.FollowUpSent && fs[2].Status == aftercare.FollowUpSent
	})
	got := s.messagesTo("+447700900200", 4, 0)
	steps := map[string]int{}
	for _, m := range got {
		steps[m.Body[:len("Harbour Massage: Day 1")]]++
	}
	if len(steps) != 3 {
		t.Fatalf("texts for %d steps, want 3: %v", len(steps), steps)
	}
	// Twilio took the text in flight when the worker died; the new worker
	// finds it there when the claim expires, and does not send it again.
	if dups := len(got) - 3; dups != 0 {
		t.Errorf("%d duplicates; the text in flight at the kill was sent again", dups)
	}
}

// A booking system that speaks NATS publishes straight to JetStream under
// its clinic's subject; the subject, not the body, decides the clinic.
func TestEventPublishedToJetStream(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	s.start("scheduler")
	s.start("worker")
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	publish := func(subject, id, body string) {
		msg := nats.NewMsg(subject)
		msg.Header.Set(jetstream.MsgIDHeader, id)
		msg.Data = []byte(body)
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	publish("sessions.harbour.d1", "harbour.d1-e1", event("d1-e1", "d1", "completed", "+447700900301", time.Now()))
	// A body claiming another clinic than its subject is refused.
	wrong := strings.Replace(event("d2-e1", "d2", "completed", "+447700900302", time.Now()), `"event_id"`, `"clinic_id":"sol","event_id"`, 1)
	publish("sessions.harbour.d2", "harbour.d2-e1", wrong)

	if got := s.messagesTo("+447700900301", 3, 15*time.Second); len(got) != 3 {
		t.Fatalf("%d texts, want 3", len(got))
	}
	if got := s.messagesTo("+447700900302", 1, time.Second); len(got) != 0 {
		t.Fatalf("the mislabelled event was planned: %d texts", len(got))
	}
	dl := s.deadLetter(t, js, "deadletter.session.>")
	if dl == nil || !strings.Contains(dl.Header.Get(natsjs.ReasonHeader), `names clinic "sol"`) {
		t.Fatalf("dead letter %+v", dl)
	}
}

// A permanent Twilio error goes through the real consumer loop to the
// dead-letter stream with its reason, and the clinic sees why. An invalid
// number (21211) also marks the number failing: the later steps are skipped
// rather than sent to fail the same way.
func TestPermanentErrorDeadLettered(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	scheduler := s.start("scheduler")
	s.start("worker")
	s.twilio.Script(twiliotest.Reply{Status: 400, Code: 21211})
	s.post(scheduler, event("e1", "p1", "completed", "+447700900401", time.Now()))
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	dl := s.deadLetter(t, js, "deadletter.followup.harbour.p1.1")
	if dl == nil || !strings.Contains(dl.Header.Get(natsjs.ReasonHeader), "21211") {
		t.Fatalf("dead letter %+v", dl)
	}
	var view struct {
		FollowUps []struct{ Status, Reason string } `json:"follow_ups"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		view.FollowUps = nil
		s.getJSON(scheduler, "/v1/sessions/p1", token, &view)
		if len(view.FollowUps) == 3 && view.FollowUps[2].Status == "skipped" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(view.FollowUps) != 3 || view.FollowUps[0].Status != "dead" || !strings.Contains(view.FollowUps[0].Reason, "invalid To number") {
		t.Fatalf("clinic's view: %+v", view)
	}
	for _, f := range view.FollowUps[1:] {
		if f.Status != "skipped" || !strings.Contains(f.Reason, "number failing: Twilio error 21211") {
			t.Errorf("later step: %+v, want skipped as the number is failing", f)
		}
	}
	if got := s.messagesTo("+447700900401", 1, 0); len(got) != 0 {
		t.Fatalf("%d texts went to a failing number", len(got))
	}
	// Twilio's 21211 message quotes the number; it is masked wherever the
	// message goes (the worker's logs are scanned at cleanup).
	if reason := dl.Header.Get(natsjs.ReasonHeader); strings.Contains(reason, "447700900401") {
		t.Errorf("dead-letter reason holds the client's number: %q", reason)
	}
	for _, f := range view.FollowUps {
		if strings.Contains(f.Reason, "447700900401") {
			t.Errorf("the clinic's view holds the client's number in a reason: %q", f.Reason)
		}
	}
}

// getJSON GETs a scheduler path with a clinic's token and decodes the answer.
func (s *system) getJSON(p *program, path, bearer string, v any) int {
	s.t.Helper()
	status, body := s.call(p, http.MethodGet, path, bearer, "")
	if v != nil && status == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			s.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return status
}

func (s *system) call(p *program, method, path, bearer, body string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://"+p.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// deadLetter waits for the first dead letter on subject.
func (s *system) deadLetter(t *testing.T, js jetstream.JetStream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stream, err := js.Stream(context.Background(), natsjs.StreamDeadLetter)
		if err == nil {
			if msg, err := stream.GetLastMsgForSubject(context.Background(), subject); err == nil {
				return msg
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
