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
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// chromium is Debian's Chromium; .ci/run installs it when missing.
const chromium = "/usr/bin/chromium"

// staffAdd makes an account with the scheduler's own command, as an
// operator makes a clinic's first admin.
func (s *system) staffAdd(t *testing.T, clinic, email, name, role, password string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "scheduler"), "staff", "add", "-clinic", clinic, "-email", email, "-name", name, "-role", role, "-password-stdin")
	cmd.Env = []string{"NATS_URL=" + s.natsURL, "CLINICS_FILE=" + s.clinics, "ALLOW_ANY_SEND_WINDOW=true", "HARBOUR_TOKEN=" + token, "SOL_TOKEN=" + solToken,
		"HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "LOG_LEVEL=error"}
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("staff add %s: %v\n%s", email, err, out)
	}
}

// browserCtx starts a headless Chromium with a fresh profile: one person
// on one device.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS waits until expression is true on the page, across navigations.
func waitJS(t *testing.T, ctx context.Context, what, expression string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expression)); err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	t.Fatalf("%s: not seen; the page:\n%s", what, body)
}

// Screen sizes the inbox is used at: on-call staff on a phone, the front
// desk on a desk screen.
var screens = []struct {
	name          string
	width, height int64
}{{"phone", 390, 844}, {"desk", 1366, 900}}

// shoot saves a screenshot to SCREENSHOTS_DIR (docs/screenshots when the
// README's are refreshed), or a temporary directory.
func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// As a clinician would use it, against the real scheduler and worker and
// the Twilio stand-in: she signs in, sees the red flag at the top, opens
// it, acknowledges it with a note, replies to the client, and the reply
// reaches the client from the clinic's number; another clinic's clinician
// cannot open that conversation.
func TestInboxInABrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		// In CI (.ci/run installs Chromium) a missing browser is a failure,
		// never a quietly skipped browser test.
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium at " + chromium + ": .ci/run should have installed it")
		}
		t.Skip("no Chromium at " + chromium + " (apt-get install chromium; .ci/run does)")
	}
	t.Parallel()
	shots := os.Getenv("SCREENSHOTS_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	s := setup(t, "2s,1h,2h") // the first tip goes out at once, the rest later
	scheduler := s.start("scheduler", "INBOX_COOKIE_SECURE=false")
	worker := s.start("worker")
	s.staffAdd(t, "harbour", "dana@harbour.example", "Dana Reid", "clinician", "dana's long password")
	s.staffAdd(t, "harbour", "lee@harbour.example", "Lee Park", "front_desk", "lee's long password")
	s.staffAdd(t, "sol", "ana@sol.example", "Ana Ruiz", "clinician", "ana's long password")
	store, _ := s.store()
	base := "http://" + scheduler.addr

	const (
		red     = "+447700900501"
		asks    = "+447700900502"
		fine    = "+447700900503"
		unclear = "+447700900504"
	)
	clients := map[string]string{red: "Sam", asks: "Priya", fine: "Tom", unclear: "Jo"}
	for phone, name := range clients {
		ev := event("ib-"+name, "ib-"+name, "completed", phone, time.Now())
		ev = strings.Replace(ev, `"phone":"`+phone+`"`, `"phone":"`+phone+`","name":"`+name+`"`, 1)
		if status, _ := s.post(scheduler, ev); status != http.StatusAccepted {
			t.Fatalf("session for %s: %d", name, status)
		}
		waitLinked(t, store, phone)
	}
	for phone := range clients {
		s.messagesTo(phone, 1, 15*time.Second) // day 1's tip
	}
	s.textAndWait(t, worker, store, red, "about a 4 today")
	s.textAndWait(t, worker, store, fine, "much better today, 3")
	s.textAndWait(t, worker, store, asks, "can I take ibuprofen before bed?")
	s.textAndWait(t, worker, store, unclear, "my shoulder feels weird since yesterday")
	s.textAndWait(t, worker, store, "+447700900599", "wrong number i think") // a number with no session
	// The red flag last, so newest is not what puts it on top; timed from
	// the text to the inbox.
	sent := time.Now()
	s.text(worker, twiliotest.Inbound(newSID(), red, harbourNumber, "worse today, 8/10 and my leg is numb"), "")
	seen := s.waitInInbox(t, base, "dana@harbour.example", "dana's long password", inbox.ConversationID("harbour", red))
	t.Logf("red-flag reply to the top of the inbox: %v", seen.Sub(sent).Round(time.Millisecond))

	// The login page, signed out, at both sizes.
	for _, sc := range screens {
		ctx := browserCtx(t)
		do(t, ctx, "login page", chromedp.EmulateViewport(sc.width, sc.height), chromedp.Navigate(base+"/inbox"),
			chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
		shoot(t, ctx, shots, "login-"+sc.name)
	}

	ctx := browserCtx(t)
	do(t, ctx, "sign in", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/inbox"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "dana@harbour.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "dana's long password"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`ul.convs`)))
	top, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("ul.convs li").className + " | " + document.querySelector("ul.convs li .name").textContent`))
	if err != nil || !strings.Contains(top, "red") || !strings.Contains(top, "Sam") {
		t.Fatalf("top of the inbox: %q %v, want Sam's red flag", top, err)
	}
	order, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("ul.convs .badge")].map(b => b.textContent).join(",")`))
	if !strings.HasPrefix(order, "red flag,needs review,question,other,fine") {
		t.Errorf("inbox order %q", order)
	}
	for _, sc := range screens {
		do(t, ctx, "resize", chromedp.EmulateViewport(sc.width, sc.height))
		shoot(t, ctx, shots, "inbox-"+sc.name)
	}
	do(t, ctx, "open the red flag", chromedp.EmulateViewport(390, 844), chromedp.Click(chromedp.CSS(`ul.convs li a`)),
		chromedp.WaitVisible(chromedp.CSS(`.escalation textarea[name=note]`)))
	do(t, ctx, "acknowledge with a note",
		chromedp.SendKeys(chromedp.CSS(`.escalation textarea[name=note]`), "Called Sam: booked an urgent GP visit today."),
		chromedp.Click(chromedp.CSS(`.escalation button[value=ack]`)))
	waitJS(t, ctx, "acknowledged", `!!document.querySelector("p.notice") && document.querySelector("p.notice").textContent.includes("acknowledged")`)
	const reply = "Hi Sam, this is Dana at Harbour Massage. Please keep the GP visit today; we will call you tomorrow."
	do(t, ctx, "reply", chromedp.SendKeys(chromedp.CSS(`form.reply textarea[name=body]`), reply), chromedp.Click(chromedp.CSS(`form.reply button`)))
	waitJS(t, ctx, "reply queued", `!!document.querySelector("p.notice") && document.querySelector("p.notice").textContent.includes("Reply queued")`)

	var got twiliotest.Message
	waitFor(t, 15*time.Second, "the reply at the stand-in", func() bool {
		for _, m := range s.twilio.Messages() {
			if m.To == red && m.Body == reply {
				got = m
				return true
			}
		}
		return false
	})
	if got.From != harbourNumber {
		t.Errorf("reply sent from %q, want the clinic's number %s", got.From, harbourNumber)
	}
	do(t, ctx, "reload", chromedp.Reload())
	waitJS(t, ctx, "the reply shown as sent", `[...document.querySelectorAll("li.msg.out")].some(m => m.textContent.includes("Please keep the GP visit") && m.querySelector(".status") && m.querySelector(".status").textContent === "sent")`)
	// Twilio reports it delivered, on the callback the reply named; the
	// conversation shows it.
	if !strings.HasPrefix(got.StatusCallback, publicBase+"/v1/twilio/status?") {
		t.Fatalf("status callback %q", got.StatusCallback)
	}
	status := url.Values{"MessageSid": {got.SID}, "MessageStatus": {"delivered"}, "To": {red}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+worker.addr+strings.TrimPrefix(got.StatusCallback, publicBase), strings.NewReader(status.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(twiliotest.AuthToken, got.StatusCallback, status))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("status callback: %v %v", res, err)
	}
	waitFor(t, 10*time.Second, "delivered shown", func() bool {
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			return false
		}
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll("li.msg.out")].some(m => m.textContent.includes("Please keep the GP visit") && m.querySelector(".status") && m.querySelector(".status").textContent === "delivered")`))
		return err == nil && ok
	})
	// The action is in the conversation's history; its note in the
	// escalation's, which is kept, not in the audit trail.
	waitJS(t, ctx, "the note with the escalation", `document.querySelector("ol.history").textContent.includes("Dana Reid · acknowledge") && document.querySelector("ol.notes").textContent.includes("booked an urgent GP visit")`)
	for _, sc := range screens {
		do(t, ctx, "resize", chromedp.EmulateViewport(sc.width, sc.height))
		shoot(t, ctx, shots, "conversation-"+sc.name)
	}
	escalations, err := store.Escalations(context.Background(), "harbour")
	if err != nil || len(escalations) != 1 {
		t.Fatalf("escalations %+v %v", escalations, err)
	}
	if e := escalations[0]; e.ClientPhone != red || e.Status != "acknowledged" || e.AcknowledgedBy != "Dana Reid" || e.Note != "Called Sam: booked an urgent GP visit today." {
		t.Errorf("escalation %+v", e)
	}

	// Another clinic's clinician: harbour's conversation is not found by
	// its URL, nor by sol's id for the same number, and not listed.
	other := browserCtx(t)
	do(t, other, "sol signs in", chromedp.Navigate(base+"/inbox/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "ana@sol.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "ana's long password"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)))
	waitJS(t, other, "sol's inbox", `!!document.querySelector("main h1") && document.querySelector("main h1").textContent === "Conversations"`)
	list, _ := chromedp.Run(other, chromedp.Text(chromedp.CSS(`main`)))
	if strings.Contains(list, "Sam") || strings.Contains(list, red) {
		t.Errorf("sol's inbox shows harbour's client: %s", list)
	}
	for _, id := range []string{inbox.ConversationID("harbour", red), inbox.ConversationID("sol", red)} {
		resp, err := chromedp.Run(other, chromedp.NavigateResponse(base+"/inbox/c/"+id))
		if err != nil {
			t.Fatal(err)
		}
		text, _ := chromedp.Run(other, chromedp.Text(chromedp.CSS(`main`)))
		if resp.Status != http.StatusNotFound || strings.Contains(text, "numb") || strings.Contains(text, "Sam") {
			t.Errorf("sol's clinician at /inbox/c/%s: %d %q", id, resp.Status, text)
		}
	}
}

// waitInInbox signs in over HTTP and polls the inbox until the
// conversation is the first listed, returning when it was.
func (s *system) waitInInbox(t *testing.T, base, email, password, id string) time.Time {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/inbox/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var at time.Time
	waitFor(t, 15*time.Second, "the conversation at the top of the inbox", func() bool {
		resp, err := c.Get(base + "/inbox")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		page := string(body)
		first := strings.Index(page, `href="/inbox/c/`)
		at = time.Now()
		return first >= 0 && strings.HasPrefix(page[first:], `href="/inbox/c/`+id+`"`)
	})
	return at
}
