package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/staff"
)

type bundle struct {
	env   *natsjstest.Env
	srv   *httptest.Server
	staff *staff.Service
	audit *staff.Audit
	clock *natsjstest.Clock
	store *inbox.Store
}

const password = "correct horse battery"

func setup(t *testing.T) bundle {
	t.Helper()
	env := natsjstest.Start(t)
	// Noon tomorrow: the session cookies' expiry comes from this clock, and
	// the test's HTTP client, on the real clock, drops a cookie already
	// expired (a fixed date failed every sign-in once it was half a day past).
	clock := natsjstest.NewClock(time.Now().UTC().Truncate(24 * time.Hour).Add(36 * time.Hour))
	dir := natsjstest.Clinics(t)
	log := natsjstest.Logger()
	svc := staff.New(env.Store, staff.Limits{PerAccount: 10, PerAddress: 100}, clock.Now, log)
	audit := &staff.Audit{JS: env.Store.JetStream(), Now: clock.Now}
	store := &inbox.Store{S: env.Store, Clinics: dir, Steps: 3}
	web := &inbox.Web{Staff: svc, Audit: audit, Store: store, Escalations: &escalation.Lifecycle{Store: env.Store, Clinics: dir, Now: clock.Now, Log: log},
		Now: clock.Now, Log: log}
	api := &httpapi.SchedulerAPI{Intake: &intake.Service{Store: env.Store, Clinics: dir, Now: clock.Now, Log: log}, Store: env.Store, Steps: 3,
		Ready: func() error { return nil }, Now: clock.Now, Log: log, Staff: svc, Audit: audit, Inbox: web}
	srv := httptest.NewServer(httpapi.SchedulerRoutes(api))
	t.Cleanup(srv.Close)
	for _, a := range []staff.NewAccount{
		{ClinicID: "harbour", Email: "dana@harbour.example", Name: "Dana", Role: staff.Clinician, Password: password},
		{ClinicID: "harbour", Email: "lee@harbour.example", Name: "Lee", Role: staff.FrontDesk, Password: password},
		{ClinicID: "sol", Email: "ana@sol.example", Name: "Ana", Role: staff.ClinicAdmin, Password: password},
	} {
		if _, err := svc.Create(context.Background(), a, aftercare.Author{Kind: aftercare.AuthorSystem, Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return bundle{env: env, srv: srv, staff: svc, audit: audit, clock: clock, store: store}
}

// reply stores a triaged reply as the worker would have.
func (b bundle) reply(t *testing.T, clinic, sid, from, class, body string, ago time.Duration, session string) {
	t.Helper()
	r := aftercare.Reply{InboundSMS: aftercare.InboundSMS{MessageSID: sid, From: from, To: "+447700900100", Body: body, ClinicID: clinic,
		ReceivedAt: b.clock.Now().Add(-ago)}, Class: class, SessionID: session, ProcessedAt: b.clock.Now()}
	if class == "red_flag" {
		r.EscalationID = "esc_" + sid
		e := aftercare.Escalation{ID: r.EscalationID, ClinicID: clinic, ClientPhone: from, Class: class, Reason: "red flag: numbness",
			ReplySID: sid, ReplyBody: body, ReceivedAt: r.ReceivedAt, RaisedAt: r.ReceivedAt, Status: aftercare.EscalationOpen}
		if _, err := b.env.Store.SaveEscalation(context.Background(), e, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.env.Store.SaveReply(context.Background(), r, 0); err != nil {
		t.Fatal(err)
	}
}

// browser is a signed-in person: a cookie jar, and the page last seen.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	page string
}

func (b bundle) login(t *testing.T, email string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	br := &browser{t: t, c: &http.Client{Jar: jar}, base: b.srv.URL}
	if status := br.post("/inbox/login", url.Values{"email": {email}, "password": {password}}); status != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, status, br.page)
	}
	return br
}

func (br *browser) get(path string) int {
	br.t.Helper()
	resp, err := br.c.Get(br.base + path)
	if err != nil {
		br.t.Fatal(err)
	}
	return br.read(resp)
}

func (br *browser) post(path string, form url.Values) int {
	br.t.Helper()
	resp, err := br.c.PostForm(br.base+path, form)
	if err != nil {
		br.t.Fatal(err)
	}
	return br.read(resp)
}

func (br *browser) read(resp *http.Response) int {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	br.page = string(body)
	return resp.StatusCode
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (br *browser) csrf() string {
	br.t.Helper()
	m := csrfField.FindStringSubmatch(br.page)
	if m == nil {
		br.t.Fatalf("no CSRF token on the page: %s", br.page)
	}
	return m[1]
}

func TestInboxSortsByPriorityThenUnread(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.reply(t, "harbour", "SM1", "+447700900001", "other", "thanks", 1*time.Minute, "s1")
	b.reply(t, "harbour", "SM2", "+447700900002", "red_flag", "my leg is numb", 3*time.Hour, "s2")
	b.reply(t, "harbour", "SM3", "+447700900003", "question", "can I take ibuprofen?", 2*time.Minute, "s3")
	b.reply(t, "harbour", "SM4", "+447700900004", "needs_review", "my shoulder feels weird", 5*time.Hour, "s4")
	b.reply(t, "harbour", "SM5", "+447700900005", "improving", "much better, 2", 1*time.Minute, "s5")
	b.reply(t, "harbour", "SM6", "+447700900006", "worsening", "worse today", 6*time.Hour, "s6")
	b.reply(t, "harbour", "SM7", "+447700900007", "question", "when can I book?", 9*time.Hour, "s7")
	b.reply(t, "harbour", "SM8", "+447700900008", "other", "who is this?", 10*time.Hour, "") // a stranger
	b.reply(t, "sol", "SM9", "+525555550001", "red_flag", "no siento la pierna", time.Minute, "x")
	// SM3's question was read since; SM7's was not: unread first.
	if _, err := b.store.UpdateState(ctx, "harbour", inbox.ConversationID("harbour", "+447700900003"), func(s *inbox.State) bool {
		s.ReadAt = b.clock.Now()
		return true
	}); err != nil {
		t.Fatal(err)
	}
	br := b.login(t, "dana@harbour.example")
	want := []string{"+447700900002", "+447700900006", "+447700900004", "+447700900007", "+447700900003", "+447700900001", "+447700900008", "+447700900005"}
	last := -1
	for _, phone := range want {
		at := strings.Index(br.page, "/inbox/c/"+inbox.ConversationID("harbour", phone))
		if at < 0 || at < last {
			t.Fatalf("%s out of order (want %v): %s", phone, want, br.page)
		}
		last = at
	}
	if strings.Contains(br.page, "+525555550001") || strings.Contains(br.page, inbox.ConversationID("sol", "+525555550001")) {
		t.Error("harbour's inbox shows sol's client")
	}
	if !strings.Contains(br.page, "unknown number") {
		t.Error("a stranger's text is not marked as from an unknown number")
	}
}

// Another clinic's staff get 404 at every conversation URL of harbour's,
// GET or POST, and nothing changes.
func TestAnotherClinicsStaffCannotReachAConversation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.reply(t, "harbour", "SM2", "+447700900002", "red_flag", "my leg is numb", time.Hour, "s2")
	id := inbox.ConversationID("harbour", "+447700900002")
	ana := b.login(t, "ana@sol.example")
	token := ana.csrf()
	if status := ana.get("/inbox/c/" + id); status != http.StatusNotFound {
		t.Errorf("GET: %d", status)
	}
	for _, path := range []string{"/reply", "/assign", "/done", "/escalations/esc_SM2/acknowledge", "/escalations/esc_SM2/resolve"} {
		form := url.Values{"csrf": {token}, "body": {"hello"}, "note": {"mine now"}, "staff": {"x"}}
		if status := ana.post("/inbox/c/"+id+path, form); status != http.StatusNotFound {
			t.Errorf("POST %s: %d", path, status)
		}
	}
	// Sol's own id for harbour's client number is sol's, and empty.
	if status := ana.get("/inbox/c/" + inbox.ConversationID("sol", "+447700900002")); status != http.StatusNotFound {
		t.Errorf("sol's id for the number: %d", status)
	}
	e, _, err := b.env.Store.Escalation(ctx, "harbour", "esc_SM2")
	if err != nil || e.Status != aftercare.EscalationOpen {
		t.Errorf("escalation changed: %+v %v", e, err)
	}
	if outs, _ := b.store.Outbound(ctx, "harbour", id); len(outs) != 0 {
		t.Errorf("a reply was queued: %+v", outs)
	}
	if st, _ := b.store.State(ctx, "harbour", id); st != (inbox.State{}) {
		t.Errorf("state changed: %+v", st)
	}
	// Nor does the JSON API with Ana's staff token reach it.
	acct, _ := b.staff.Account(ctx, "sol", mustID(t, b, "sol"))
	tok, _ := b.staff.NewAPIToken(ctx, acct)
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/v1/escalations/esc_SM2", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("API with sol's staff token: %d", resp.StatusCode)
	}
}

func mustID(t *testing.T, b bundle, clinic string) string {
	t.Helper()
	list, err := b.staff.List(context.Background(), clinic)
	if err != nil || len(list) == 0 {
		t.Fatal(err)
	}
	return list[0].ID
}

// Every POST needs the session's CSRF token: without it, 403 and nothing
// changes; a cross-site POST is refused before that.
func TestPostsNeedTheSessionsCSRFToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.reply(t, "harbour", "SM2", "+447700900002", "red_flag", "my leg is numb", time.Hour, "s2")
	id := inbox.ConversationID("harbour", "+447700900002")
	dana := b.login(t, "dana@harbour.example")
	lee := b.login(t, "lee@harbour.example")
	for _, token := range []string{"", "forged", lee.csrf()} {
		if status := dana.post("/inbox/c/"+id+"/escalations/esc_SM2/acknowledge", url.Values{"csrf": {token}, "note": {"x"}}); status != http.StatusForbidden {
			t.Errorf("csrf %q: %d", token, status)
		}
	}
	if e, _, _ := b.env.Store.Escalation(ctx, "harbour", "esc_SM2"); e.Status != aftercare.EscalationOpen {
		t.Errorf("acknowledged without a CSRF token: %+v", e)
	}
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/inbox/login", strings.NewReader("email=dana%40harbour.example&password=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login POST: %d", resp.StatusCode)
	}
	// Signed out: pages send to the login, POSTs are 401.
	anon := &browser{t: t, c: &http.Client{}, base: b.srv.URL}
	if anon.get("/inbox"); !strings.Contains(anon.page, `action="/inbox/login"`) {
		t.Errorf("signed-out GET /inbox: %s", anon.page)
	}
	if status := anon.post("/inbox/c/"+id+"/reply", url.Values{"body": {"x"}}); status != http.StatusUnauthorized {
		t.Errorf("signed-out POST: %d", status)
	}
}

// A clinician acknowledges with a note, assigns, replies and marks done;
// each is an audit entry with their name, and the second note does not
// replace the first.
func TestConversationActionsAreRecordedWithTheirAuthor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.reply(t, "harbour", "SM2", "+447700900002", "red_flag", "my leg is numb", time.Hour, "s2")
	id := inbox.ConversationID("harbour", "+447700900002")
	dana := b.login(t, "dana@harbour.example")
	if status := dana.get("/inbox/c/" + id); status != http.StatusOK || !strings.Contains(dana.page, "my leg is numb") {
		t.Fatalf("%d %s", status, dana.page)
	}
	token := dana.csrf()
	seen := seenOn(t, dana.page)
	steps := []struct {
		path string
		form url.Values
	}{
		{"/escalations/esc_SM2/acknowledge", url.Values{"note": {"called, no answer"}}},
		{"/escalations/esc_SM2/acknowledge", url.Values{"note": {"called again, booked GP"}}},
		{"/assign", url.Values{"staff": {mustIDByName(t, b, "Lee")}}},
		{"/reply", url.Values{"body": {"Please call us on 020 7946 0000 when you can."}}},
		{"/done", url.Values{"seen": {seen}}},
	}
	for _, s := range steps {
		s.form.Set("csrf", token)
		if status := dana.post("/inbox/c/"+id+s.path, s.form); status != http.StatusOK {
			t.Fatalf("%s: %d %s", s.path, status, dana.page)
		}
	}
	e, _, _ := b.env.Store.Escalation(ctx, "harbour", "esc_SM2")
	if e.Status != aftercare.EscalationAcknowledged || e.AcknowledgedBy != "Dana" {
		t.Errorf("escalation %+v", e)
	}
	h, err := b.audit.History(ctx, "harbour", "conversation", id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, entry := range h {
		if entry.Author.Name != "Dana" || entry.Author.Kind != aftercare.AuthorStaff {
			t.Errorf("entry without its author: %+v", entry)
		}
		got = append(got, entry.Action+": "+entry.Note)
	}
	// No message text and no escalation id: the reply names its record,
	// where the text is; the escalation keeps its own entries.
	outs, err := b.store.Outbound(ctx, "harbour", id)
	if err != nil || len(outs) != 1 {
		t.Fatalf("staff replies: %+v %v", outs, err)
	}
	want := []string{"assign: to Lee", "reply: " + outs[0].ID, "done: "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("history\n got %q\nwant %q", got, want)
	}
	// The escalation's actions are under the escalation, with their notes,
	// and not under the conversation too: a pair at the same instant would
	// link the conversation back to the client after an erasure.
	eh, err := b.audit.History(ctx, "harbour", "escalation", "esc_SM2")
	if err != nil {
		t.Fatal(err)
	}
	var escGot []string
	for _, entry := range eh {
		escGot = append(escGot, entry.Author.Name+" "+entry.Action+": "+entry.Note)
	}
	escWant := []string{"Dana acknowledge: called, no answer", "Dana acknowledge: called again, booked GP"}
	if strings.Join(escGot, "|") != strings.Join(escWant, "|") {
		t.Errorf("escalation history\n got %q\nwant %q", escGot, escWant)
	}
	// The conversation's page still shows them, from the escalation's own
	// history (where a second acknowledgement is a note).
	status := dana.get("/inbox/c/" + id)
	if status != http.StatusOK || !strings.Contains(dana.page, "Dana · acknowledge: on an escalation") || !strings.Contains(dana.page, "Dana · note: on an escalation") {
		t.Errorf("%d: the page's history does not show the escalation's actions:\n%s", status, dana.page)
	}
	st, _ := b.store.State(ctx, "harbour", id)
	if st.AssignedName != "Lee" || st.DoneAt.IsZero() {
		t.Errorf("state %+v", st)
	}
	outs, _ = b.store.Outbound(ctx, "harbour", id)
	if len(outs) != 1 || outs[0].Status != "queued" || outs[0].Author.Name != "Dana" || outs[0].To != "+447700900002" {
		t.Errorf("outbound %+v", outs)
	}
	if n := b.env.Count(t, natsjs.StreamOutbox, "outbox.harbour"); n != 1 {
		t.Errorf("%d jobs for the worker, want 1", n)
	}
	// Bad input gets a 400 naming the problem, and nothing is queued.
	dana.get("/inbox/c/" + id)
	if status := dana.post("/inbox/c/"+id+"/reply", url.Values{"csrf": {token}, "body": {strings.Repeat("x", inbox.MaxReplyLength+1)}}); status != http.StatusBadRequest || !strings.Contains(dana.page, "a reply must be 1-640 characters") {
		t.Errorf("long reply: %d", status)
	}
	if status := dana.post("/inbox/c/"+id+"/assign", url.Values{"csrf": {token}, "staff": {mustID(t, b, "sol")}}); status != http.StatusBadRequest {
		t.Errorf("assigned to another clinic's staff: %d", status)
	}
}

func mustIDByName(t *testing.T, b bundle, name string) string {
	t.Helper()
	list, _ := b.staff.List(context.Background(), "harbour")
	for _, a := range list {
		if a.Name == name {
			return a.ID
		}
	}
	t.Fatalf("no %s", name)
	return ""
}

// Only a clinic admin creates accounts; the new one can sign in with the
// password shown once.
func TestOnlyAdminsCreateAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dana := b.login(t, "dana@harbour.example")
	dana.get("/inbox/staff")
	if status := dana.post("/inbox/staff", url.Values{"csrf": {dana.csrf()}, "email": {"x@harbour.example"}, "name": {"X"}, "role": {"clinic_admin"}}); status != http.StatusForbidden {
		t.Errorf("clinician created an account: %d", status)
	}
	ana := b.login(t, "ana@sol.example")
	ana.get("/inbox/staff")
	if status := ana.post("/inbox/staff", url.Values{"csrf": {ana.csrf()}, "email": {"pablo@sol.example"}, "name": {"Pablo"}, "role": {"clinician"}}); status != http.StatusCreated {
		t.Fatalf("admin: %d %s", status, ana.page)
	}
	m := regexp.MustCompile(`<code class="secret">([^<]+)</code>`).FindStringSubmatch(ana.page)
	if m == nil {
		t.Fatal("no password shown")
	}
	if _, _, a, err := b.staff.Login(context.Background(), "pablo@sol.example", m[1], "192.0.2.9"); err != nil || a.ClinicID != "sol" {
		t.Errorf("new account: %+v %v", a, err)
	}
}

// A staff API token on the JSON API acts as its person: the escalation
// says who acknowledged it, whatever the body's "by" claims.
func TestStaffAPITokenAttributesEscalationChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.reply(t, "harbour", "SM2", "+447700900002", "red_flag", "my leg is numb", time.Hour, "s2")
	dana, _ := b.staff.Account(ctx, "harbour", mustIDByName(t, b, "Dana"))
	tok, err := b.staff.NewAPIToken(ctx, dana)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/escalations/esc_SM2/acknowledge", strings.NewReader(`{"by":"Mallory","note":"on it"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e, _, _ := b.env.Store.Escalation(ctx, "harbour", "esc_SM2")
	if resp.StatusCode != http.StatusOK || e.AcknowledgedBy != "Dana" {
		t.Errorf("%d: acknowledged by %q, want Dana", resp.StatusCode, e.AcknowledgedBy)
	}
	// It is in the escalation's history, under Dana, and not in the
	// conversation's (see TestConversationActionsAreRecordedWithTheirAuthor).
	h, err := b.audit.History(ctx, "harbour", "escalation", "esc_SM2")
	if err != nil || len(h) != 1 || h[0].Author.Name != "Dana" || h[0].Action != "acknowledge" || h[0].Note != "on it" {
		t.Errorf("history %+v %v", h, err)
	}
	if h, err := b.audit.History(ctx, "harbour", "conversation", inbox.ConversationID("harbour", "+447700900002")); err != nil || len(h) != 0 {
		t.Errorf("conversation history %+v %v, want none", h, err)
	}
	req, _ = http.NewRequest(http.MethodGet, b.srv.URL+"/v1/escalations", nil)
	req.Header.Set("Authorization", "Bearer "+staff.APITokenPrefix+"unknown")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown staff token: %d", resp.StatusCode)
	}
}

// A number that texts without end makes a long conversation, not an
// endless page: the latest MaxMessages are shown.
func TestALongConversationShowsTheLatest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range inbox.MaxMessages + 5 {
		b.reply(t, "harbour", fmt.Sprintf("SMx%04d", i), "+447700900666", "other", fmt.Sprintf("text number %04d", i), time.Duration(inbox.MaxMessages+5-i)*time.Minute, "")
	}
	dana := b.login(t, "dana@harbour.example")
	if status := dana.get("/inbox/c/" + inbox.ConversationID("harbour", "+447700900666")); status != http.StatusOK {
		t.Fatal(status)
	}
	if strings.Contains(dana.page, "text number 0004<") || !strings.Contains(dana.page, "text number 0005<") || !strings.Contains(dana.page, fmt.Sprintf("text number %04d<", inbox.MaxMessages+4)) ||
		!strings.Contains(dana.page, "5 older messages not shown") {
		t.Errorf("the page does not show the latest %d", inbox.MaxMessages)
	}
}

// A clinic admin disables a colleague who has left: their signed-in
// session and API token stop working at once and they cannot sign in;
// a clinician cannot do it, another clinic's admin cannot reach them, and
// an admin cannot disable themselves. Enabled again, they sign in.
func TestAdminDisablesAColleague(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.staff.Create(ctx, staff.NewAccount{ClinicID: "harbour", Email: "max@harbour.example", Name: "Max", Role: staff.ClinicAdmin, Password: password},
		aftercare.Author{Kind: aftercare.AuthorSystem, Name: "test"}); err != nil {
		t.Fatal(err)
	}
	leeID, maxID := mustIDByName(t, b, "Lee"), mustIDByName(t, b, "Max")
	lee := b.login(t, "lee@harbour.example")
	leeAccount, err := b.staff.Account(ctx, "harbour", leeID)
	if err != nil {
		t.Fatal(err)
	}
	token, err := b.staff.NewAPIToken(ctx, leeAccount)
	if err != nil {
		t.Fatal(err)
	}

	dana := b.login(t, "dana@harbour.example")
	dana.get("/inbox/staff")
	if status := dana.post("/inbox/staff/"+leeID+"/disable", url.Values{"csrf": {dana.csrf()}}); status != http.StatusForbidden {
		t.Errorf("a clinician disabled a colleague: %d", status)
	}
	ana := b.login(t, "ana@sol.example")
	ana.get("/inbox/staff")
	if status := ana.post("/inbox/staff/"+leeID+"/disable", url.Values{"csrf": {ana.csrf()}}); status != http.StatusNotFound {
		t.Errorf("another clinic's admin reached harbour's staff: %d", status)
	}
	max := b.login(t, "max@harbour.example")
	max.get("/inbox/staff")
	if status := max.post("/inbox/staff/"+maxID+"/disable", url.Values{"csrf": {max.csrf()}}); status != http.StatusBadRequest {
		t.Errorf("an admin disabled themselves: %d", status)
	}
	max.get("/inbox/staff")
	if status := max.post("/inbox/staff/"+leeID+"/disable", url.Values{"csrf": {max.csrf()}}); status != http.StatusOK {
		t.Fatalf("disable: %d %s", status, max.page)
	}
	if status := lee.get("/inbox"); status == http.StatusOK && strings.Contains(lee.page, "Sign out") {
		t.Errorf("a disabled colleague's session still works")
	}
	if _, err := b.staff.ByAPIToken(ctx, token); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("a disabled colleague's API token still works: %v", err)
	}
	if _, _, _, err := b.staff.Login(ctx, "lee@harbour.example", password, "192.0.2.10"); !errors.Is(err, staff.ErrLogin) {
		t.Errorf("a disabled colleague signed in: %v", err)
	}
	max.get("/inbox/staff")
	if status := max.post("/inbox/staff/"+leeID+"/enable", url.Values{"csrf": {max.csrf()}}); status != http.StatusOK {
		t.Fatalf("enable: %d", status)
	}
	// Enabled again, Lee signs in anew; the old session and token stay dead.
	if status := lee.get("/inbox"); status == http.StatusOK && strings.Contains(lee.page, "Sign out") {
		t.Errorf("re-enabling brought the old session back")
	}
	if _, err := b.staff.ByAPIToken(ctx, token); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("re-enabling brought the old API token back: %v", err)
	}
	b.login(t, "lee@harbour.example")
}

// A person changes their own password after giving the current one.
func TestChangeOwnPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dana := b.login(t, "dana@harbour.example")
	elsewhere := b.login(t, "dana@harbour.example") // Dana's other device
	dana.get("/inbox/staff")
	const next = "a much longer passphrase"
	if status := dana.post("/inbox/password", url.Values{"csrf": {dana.csrf()}, "current": {"wrong one entirely"}, "new": {next}}); status != http.StatusForbidden {
		t.Errorf("changed with a wrong current password: %d", status)
	}
	dana.get("/inbox/staff")
	if status := dana.post("/inbox/password", url.Values{"csrf": {dana.csrf()}, "current": {password}, "new": {"short"}}); status != http.StatusBadRequest {
		t.Errorf("a short new password: %d", status)
	}
	dana.get("/inbox/staff")
	if status := dana.post("/inbox/password", url.Values{"csrf": {dana.csrf()}, "current": {password}, "new": {next}}); status != http.StatusOK {
		t.Fatalf("change: %d %s", status, dana.page)
	}
	if _, _, _, err := b.staff.Login(ctx, "dana@harbour.example", password, "192.0.2.11"); !errors.Is(err, staff.ErrLogin) {
		t.Errorf("the old password still works: %v", err)
	}
	if _, _, _, err := b.staff.Login(ctx, "dana@harbour.example", next, "192.0.2.11"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	// A new password ends every other session (a stolen one with it).
	if status := elsewhere.get("/inbox"); status == http.StatusOK && strings.Contains(elsewhere.page, "Sign out") {
		t.Errorf("another session survived the password change")
	}
}

var seenField = regexp.MustCompile(`name="seen" value="([^"]+)"`)

// seenOn is the newest text a conversation page showed, as its done form
// carries it.
func seenOn(t *testing.T, page string) string {
	t.Helper()
	m := seenField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no done form on the page")
	}
	return m[1]
}

// "Mark done" covers the texts the page showed: a reply that came in after
// the page was built stays open, unread, and keeps its priority.
func TestDoneCoversOnlyWhatThePageShowed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.reply(t, "harbour", "SM7", "+447700900007", "question", "can I book friday", 2*time.Hour, "s7")
	id := inbox.ConversationID("harbour", "+447700900007")
	dana := b.login(t, "dana@harbour.example")
	dana.get("/inbox/c/" + id)
	token, seen := dana.csrf(), seenOn(t, dana.page)
	b.reply(t, "harbour", "SM8", "+447700900007", "needs_review", "my hip feels weird now", time.Minute, "s7")
	if status := dana.post("/inbox/c/"+id+"/done", url.Values{"csrf": {token}, "seen": {seen}}); status != http.StatusOK {
		t.Fatalf("done: %d", status)
	}
	list, err := b.store.List(context.Background(), "harbour")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.ID == id && (s.Done || s.OpenReplies != 1 || s.Priority != inbox.NeedsReview || !s.Unread) {
			t.Errorf("after done: %+v; want the later reply open, unread, needs review", s)
		}
	}
}
