package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

func workerServer(t *testing.T, authToken string) (*natsjstest.Env, *httptest.Server) {
	t.Helper()
	env := natsjstest.Start(t)
	api := &httpapi.WorkerAPI{
		Verifier: twilio.NewWebhookVerifier(authToken, "https://aftercare.example"),
		Store:    env.Store, Clinics: natsjstest.Clinics(t), Ready: func() error { return nil }, Now: time.Now, Log: natsjstest.Logger(),
	}
	srv := httptest.NewServer(httpapi.WorkerRoutes(api))
	t.Cleanup(srv.Close)
	return env, srv
}

// Every refused webhook gets a 4xx saying why, and stores nothing.
func TestInboundWebhookRefusals(t *testing.T) {
	t.Parallel()
	env, srv := workerServer(t, twiliotest.AuthToken)
	_, noToken := workerServer(t, "")
	good := twiliotest.Inbound("SM"+strings.Repeat("1", 32), "+447700900123", "+447700900100", "worse")
	signed := func(p url.Values) string {
		return twiliotest.Sign(twiliotest.AuthToken, "https://aftercare.example/v1/twilio/inbound", p)
	}
	without := func(key string) url.Values {
		p := url.Values{}
		for k, v := range good {
			if k != key {
				p[k] = v
			}
		}
		return p
	}
	badSID := without("MessageSid")
	badSID.Set("MessageSid", "SM-not-a-sid")
	tests := map[string]struct {
		server      *httptest.Server
		contentType string
		body        string
		signature   string
		status      int
		says        string
	}{
		"not a form":     {srv, "application/json", `{"Body":"hi"}`, signed(good), 415, "Content-Type"},
		"too big":        {srv, "application/x-www-form-urlencoded", "Body=" + strings.Repeat("a", 70<<10), "x", 413, "body over"},
		"unsigned":       {srv, "application/x-www-form-urlencoded", good.Encode(), "", 403, "X-Twilio-Signature"},
		"no auth token":  {noToken, "application/x-www-form-urlencoded", good.Encode(), signed(good), 403, "TWILIO_AUTH_TOKEN"},
		"bad MessageSid": {srv, "application/x-www-form-urlencoded", badSID.Encode(), signed(badSID), 400, "MessageSid"},
		"no From":        {srv, "application/x-www-form-urlencoded", without("From").Encode(), signed(without("From")), 400, "From and To"},
		"unsigned extra": {srv, "application/x-www-form-urlencoded", good.Encode() + "&x=%0d%0aSet-Cookie:%20a", signed(good), 403, "X-Twilio-Signature"},
	}
	for name, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, tt.server.URL+"/v1/twilio/inbound", strings.NewReader(tt.body))
		req.Header.Set("Content-Type", tt.contentType)
		if tt.signature != "" {
			req.Header.Set("X-Twilio-Signature", tt.signature)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status || !strings.Contains(string(body), tt.says) {
			t.Errorf("%s: %d %q, want %d mentioning %q", name, res.StatusCode, body, tt.status, tt.says)
		}
	}
	if n := env.Count(t, natsjs.StreamReplies, "replies.>"); n != 0 {
		t.Errorf("%d refused texts were stored", n)
	}

	// The good one is stored once however often Twilio sends it.
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/twilio/inbound", strings.NewReader(good.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", signed(good))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), "<Response>") {
			t.Fatalf("good webhook: %d %s", res.StatusCode, body)
		}
	}
	if n := env.Count(t, natsjs.StreamReplies, "replies.harbour"); n != 1 {
		t.Errorf("replies.harbour holds %d, want 1", n)
	}
}

// A status callback's ids name records and subjects: one over the bound
// every id has (a leaked auth token signs any callback URL) is refused
// and stores nothing.
func TestStatusCallbackIDsBounded(t *testing.T) {
	t.Parallel()
	env, srv := workerServer(t, twiliotest.AuthToken)
	params := url.Values{"MessageSid": {"SM" + strings.Repeat("2", 32)}, "MessageStatus": {"delivered"}, "To": {"+447700900123"}}
	for name, query := range map[string]string{
		"session":       "kind=followup&clinic=harbour&step=1&session=" + strings.Repeat("s", 4000),
		"escalation":    "kind=oncall&clinic=harbour&escalation=" + strings.Repeat("~", 3000),
		"MessageStatus": "kind=followup&clinic=harbour&step=1&session=s1",
	} {
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		if name == "MessageStatus" {
			p.Set("MessageStatus", strings.Repeat("x", 200))
		}
		callback := "/v1/twilio/status?" + query
		req, _ := http.NewRequest(http.MethodPost, srv.URL+callback, strings.NewReader(p.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(twiliotest.AuthToken, "https://aftercare.example"+callback, p))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.HasPrefix(string(body), name+" ") {
			t.Errorf("%s too long: %d %q, want 400 naming it", name, res.StatusCode, body)
		}
	}
	if n := env.Count(t, natsjs.StreamDelivery, "delivery.>"); n != 0 {
		t.Errorf("%d refused statuses were stored", n)
	}
}
