package twilio_test

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// The signature Twilio's documentation gives for its example request, so
// the verifier is checked against Twilio's own arithmetic, not ours.
func TestVerifyTwilioDocumentedExample(t *testing.T) {
	t.Parallel()
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"}, "From": {"+12349013030"}, "To": {"+18005551212"}}
	const want = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	if got := twiliotest.Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params); got != want {
		t.Fatalf("twiliotest.Sign = %q, want Twilio's %q", got, want)
	}
	v := twilio.NewWebhookVerifier("12345", "https://mycompany.com")
	r := httptest.NewRequest("POST", "/myapp.php?foo=1&bar=2", strings.NewReader(params.Encode()))
	r.Header.Set(twilio.SignatureHeader, want)
	if err := v.Verify(r, []byte(params.Encode())); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	params := twiliotest.Inbound("SM00000000000000000000000000000001", "+447700900123", "+447700900100", "worse")
	good := twiliotest.Sign(twiliotest.AuthToken, "https://aftercare.example/v1/twilio/inbound", params)
	tampered := url.Values{}
	for k, v := range params {
		tampered[k] = v
	}
	tampered.Set("Body", "better")
	tests := map[string]struct {
		token, base, sig string
		body             url.Values
		want             error
	}{
		"good":          {twiliotest.AuthToken, "https://aftercare.example", good, params, nil},
		"missing":       {twiliotest.AuthToken, "https://aftercare.example", "", params, twilio.ErrBadSignature},
		"forged":        {twiliotest.AuthToken, "https://aftercare.example", "bm90IGEgc2lnbmF0dXJl", params, twilio.ErrBadSignature},
		"altered body":  {twiliotest.AuthToken, "https://aftercare.example", good, tampered, twilio.ErrBadSignature},
		"other token":   {"someoneelsestoken000000000000001", "https://aftercare.example", good, params, twilio.ErrBadSignature},
		"other URL":     {twiliotest.AuthToken, "https://evil.example", good, params, twilio.ErrBadSignature},
		"no auth token": {"", "https://aftercare.example", good, params, twilio.ErrNoAuthToken},
	}
	for name, tt := range tests {
		v := twilio.NewWebhookVerifier(tt.token, tt.base)
		r := httptest.NewRequest("POST", "/v1/twilio/inbound", strings.NewReader(tt.body.Encode()))
		if tt.sig != "" {
			r.Header.Set(twilio.SignatureHeader, tt.sig)
		}
		if err := v.Verify(r, []byte(tt.body.Encode())); err != tt.want {
			t.Errorf("%s: Verify = %v, want %v", name, err, tt.want)
		}
	}
}
