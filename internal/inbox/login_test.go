package inbox_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/inbox"
)

// An on-call alert links to a conversation: opened signed out, the link
// leads to the login page and, once signed in, to that conversation. A
// "next" that is not a conversation's path leads to the list, so the login
// page sends no one elsewhere.
func TestAlertLinkLeadsToTheConversationAfterLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.reply(t, "harbour", "SM2", "+447700900002", "red_flag", "my leg is numb", time.Hour, "s2")
	path := "/inbox/c/" + inbox.ConversationID("harbour", "+447700900002")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	landed := func(resp *http.Response, err error) (string, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Request.URL.RequestURI(), string(body)
	}
	at, page := landed(c.Get(b.srv.URL + path))
	if at != "/inbox/login?next="+url.QueryEscape(path) || !strings.Contains(page, `name="next" value="`+path+`"`) {
		t.Fatalf("signed out, the link led to %s:\n%s", at, page)
	}
	at, page = landed(c.PostForm(b.srv.URL+"/inbox/login", url.Values{"email": {"dana@harbour.example"}, "password": {password}, "next": {path}}))
	if at != path || !strings.Contains(page, "my leg is numb") {
		t.Fatalf("after login at %s, want %s:\n%s", at, path, page)
	}
	for _, next := range []string{"https://evil.example/inbox/c/c000000000000000000000000", "//evil.example", "/inbox/staff"} {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		if at, _ := landed(c.PostForm(b.srv.URL+"/inbox/login", url.Values{"email": {"dana@harbour.example"}, "password": {password}, "next": {next}})); at != "/inbox" {
			t.Errorf("next %q led to %s, want /inbox", next, at)
		}
	}
}
