package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// A staff reply's status callback names the reply (conversation.id); one
// without it, or with an overlong one, is refused and stores nothing.
func TestStaffReplyStatusCallbacks(t *testing.T) {
	t.Parallel()
	env, srv := workerServer(t, twiliotest.AuthToken)
	params := url.Values{"MessageSid": {"SM" + strings.Repeat("3", 32)}, "MessageStatus": {"delivered"}, "To": {"+447700900123"}}
	post := func(query string) (int, string) {
		callback := "/v1/twilio/status?" + query
		req, _ := http.NewRequest(http.MethodPost, srv.URL+callback, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(twiliotest.AuthToken, "https://aftercare.example"+callback, params))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	for name, query := range map[string]string{
		"no reply named": "kind=staff_reply&clinic=harbour",
		"overlong":       "kind=staff_reply&clinic=harbour&outbound=" + strings.Repeat("o", 4000),
	} {
		if status, body := post(query); status != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", name, status, body)
		}
	}
	if n := env.Count(t, natsjs.StreamDelivery, "delivery.>"); n != 0 {
		t.Errorf("%d refused statuses were stored", n)
	}
	if status, body := post("kind=staff_reply&clinic=harbour&outbound=c0123.r1"); status != http.StatusNoContent {
		t.Errorf("a staff reply's status: %d %q", status, body)
	}
	if n := env.Count(t, natsjs.StreamDelivery, "delivery.harbour"); n != 1 {
		t.Errorf("%d statuses stored, want 1", n)
	}
}
