package escalation_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/escalation"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	const secret = "clinic-webhook-secret-0000000001"
	body := []byte(`{"event":"escalation.raised"}`)
	now := time.Unix(1_800_000_000, 0)
	signed := func(ts time.Time, key string, b []byte) http.Header {
		h := http.Header{}
		h.Set(escalation.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(escalation.HeaderSignature, escalation.Sign(key, ts.Unix(), b))
		return h
	}
	tests := map[string]struct {
		header http.Header
		body   []byte
		ok     bool
	}{
		"good":            {signed(now, secret, body), body, true},
		"other secret":    {signed(now, "another-clinics-secret-000000001", body), body, false},
		"altered body":    {signed(now, secret, body), []byte(`{"event":"escalation.resolved"}`), false},
		"replayed later":  {signed(now.Add(-10*time.Minute), secret, body), body, false},
		"from the future": {signed(now.Add(10*time.Minute), secret, body), body, false},
		"no headers":      {http.Header{}, body, false},
	}
	for name, tt := range tests {
		err := escalation.Verify(secret, tt.header, tt.body, now, 5*time.Minute)
		if (err == nil) != tt.ok {
			t.Errorf("%s: Verify = %v, want ok %v", name, err, tt.ok)
		}
	}
	// The signature covers the timestamp: moving it breaks the signature.
	h := signed(now, secret, body)
	h.Set(escalation.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
	if escalation.Verify(secret, h, body, now, 5*time.Minute) == nil {
		t.Error("a changed timestamp still verified")
	}
}

// A clinic's receiver can check the signature with any HMAC library: it is
// hex HMAC-SHA256, keyed with the secret, of "<timestamp>.<body>".
func ExampleSign() {
	fmt.Println(escalation.Sign("secret", 1800000000, []byte(`{}`)))
	// Output:
	// v1=bb7079132825ac793cea8c013c1dd24d926b9b02132245b10588d9e5c0df70d7
}
