package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

func (b bundle) call(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, b.server.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// A clinic lists its replies that need review, newest first and only its
// own, and marks one reviewed (idempotent); another clinic's sid, an
// unknown one or a reply of another class cannot be marked.
func TestRepliesForReview(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	save := func(clinic, sid, class string, at time.Time) {
		rec := aftercare.Reply{InboundSMS: aftercare.InboundSMS{MessageSID: sid, ClinicID: clinic, From: "+447700900123", To: "+447700900100",
			Body: "my knee feels odd " + sid, ReceivedAt: at}, SessionID: "s1", Class: class, Reason: "needs review: test", ProcessedAt: at}
		if _, err := b.env.Store.SaveReply(ctx, rec, 0); err != nil {
			t.Fatal(err)
		}
	}
	save("harbour", "SMold", "needs_review", now.Add(-2*time.Hour))
	save("harbour", "SMnew", "needs_review", now.Add(-time.Hour))
	save("harbour", "SMfine", "improving", now)
	save("sol", "SMsol", "needs_review", now)

	list := func(token string) []httpapi.ReplyForReview {
		t.Helper()
		status, body := b.call(t, http.MethodGet, "/v1/replies?status=needs_review", token, "")
		if status != http.StatusOK {
			t.Fatalf("list: %d %s", status, body)
		}
		var l httpapi.ReplyList
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		return l.Replies
	}
	got := list(natsjstest.HarbourToken)
	if len(got) != 2 || got[0].MessageSID != "SMnew" || got[1].MessageSID != "SMold" {
		t.Fatalf("harbour's list: %+v", got)
	}
	if r := got[0]; r.ClientPhone != "+447700900123" || r.Body != "my knee feels odd SMnew" || r.Class != "needs_review" || r.Reason == "" ||
		r.SessionID != "s1" || !r.ReceivedAt.Equal(now.Add(-time.Hour)) {
		t.Errorf("listed as %+v", r)
	}
	if got := list(natsjstest.SolToken); len(got) != 1 || got[0].MessageSID != "SMsol" {
		t.Fatalf("sol's list: %+v", got)
	}

	for _, tt := range []struct {
		method, path, token, body string
		want                      int
	}{
		{http.MethodGet, "/v1/replies", natsjstest.HarbourToken, "", http.StatusBadRequest},
		{http.MethodGet, "/v1/replies?status=all", natsjstest.HarbourToken, "", http.StatusBadRequest},
		{http.MethodGet, "/v1/replies?status=needs_review", "not-a-token", "", http.StatusUnauthorized},
		{http.MethodPost, "/v1/replies/SMsol/reviewed", natsjstest.HarbourToken, `{"by":"Dana"}`, http.StatusNotFound},
		{http.MethodPost, "/v1/replies/SMnope/reviewed", natsjstest.HarbourToken, `{"by":"Dana"}`, http.StatusNotFound},
		{http.MethodPost, "/v1/replies/SMfine/reviewed", natsjstest.HarbourToken, `{"by":"Dana"}`, http.StatusConflict},
		{http.MethodPost, "/v1/replies/" + strings.Repeat("~", 3000) + "/reviewed", natsjstest.HarbourToken, `{"by":"Dana"}`, http.StatusBadRequest},
		{http.MethodPost, "/v1/replies/SMnew/reviewed", natsjstest.HarbourToken, `{"surprise":1}`, http.StatusBadRequest},
		{http.MethodPost, "/v1/replies/SMnew/reviewed", "not-a-token", `{"by":"Dana"}`, http.StatusUnauthorized},
	} {
		if status, body := b.call(t, tt.method, tt.path, tt.token, tt.body); status != tt.want {
			t.Errorf("%s %.60s: %d %s, want %d", tt.method, tt.path, status, body, tt.want)
		}
	}
	if rec, _, _ := b.env.Store.Reply(ctx, "sol", "SMsol"); !rec.ReviewedAt.IsZero() {
		t.Errorf("harbour marked sol's reply: %+v", rec)
	}

	for range 2 { // marking again answers the same and keeps the first mark
		status, body := b.call(t, http.MethodPost, "/v1/replies/SMnew/reviewed", natsjstest.HarbourToken, `{"by":"Dana","note":"called, fine"}`)
		var r httpapi.ReplyForReview
		if err := json.Unmarshal(body, &r); err != nil || status != http.StatusOK || r.ReviewedBy != "Dana" || r.ReviewNote != "called, fine" || r.ReviewedAt.IsZero() {
			t.Fatalf("mark: %d %s", status, body)
		}
	}
	if got := list(natsjstest.HarbourToken); len(got) != 1 || got[0].MessageSID != "SMold" {
		t.Fatalf("after marking SMnew: %+v", got)
	}
	if rec, _, err := b.env.Store.Reply(ctx, "harbour", "SMnew"); err != nil || rec.ReviewedBy != "Dana" || rec.Class != "needs_review" {
		t.Errorf("stored %+v, err %v", rec, err)
	}
}
