package twilio_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

func TestParseWebhookRefusals(t *testing.T) {
	t.Parallel()
	ok := twiliotest.Inbound("SM0123456789abcdef0123456789abcdef", "+447700900123", "+447700900100", "sore but ok")
	tests := []struct {
		name, body, want string
	}{
		{"not UTF-8", ok.Encode() + "&Body=\xff", "not UTF-8"},
		{"escaped bad UTF-8", ok.Encode() + "&X=%ff", "not UTF-8"},
		{"bad escape", ok.Encode() + "&Body=%zz", "not form-encoded"},
		{"no MessageSid", "From=%2B447700900123&To=%2B447700900100&Body=hi", "MessageSid"},
		{"SID of a call", strings.Replace(ok.Encode(), "MessageSid=SM", "MessageSid=CA", 1), "MessageSid"},
	}
	for _, tt := range tests {
		if _, err := twilio.ParseWebhook([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
	form, err := twilio.ParseWebhook([]byte(ok.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]string{"From": "", "To": strings.Repeat("9", 65), "NumMedia": "-1"} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = slices.Clone(v)
		}
		bad.Set(name, change)
		if _, err := twilio.ParseInbound(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming %s", name, change, err, name)
		}
	}
}

// FuzzParseInbound: any webhook body is either taken whole (every field as
// sent, UTF-8, a message SID, both numbers) or refused with a reason. Seeds
// are in testdata/fuzz/FuzzParseInbound.
func FuzzParseInbound(f *testing.F) {
	f.Add([]byte(twiliotest.Inbound("SM0123456789abcdef0123456789abcdef", "+447700900123", "+447700900100", "worse today, numb leg").Encode()))
	f.Add([]byte(twiliotest.Inbound("MM0123456789abcdef0123456789abcdef", "+447700900123", "+447700900100", "STOP").Encode() + "&OptOutType=STOP&NumMedia=1"))
	f.Add([]byte("MessageSid=SM0123456789abcdef0123456789abcdef&From=whatsapp%3A%2B447700900123&To=%2B447700900100&Body=%F0%9F%98%AD+7%2F10"))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := twilio.ParseWebhook(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		in, err := twilio.ParseInbound(form)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		if in.MessageSID != form.Get("MessageSid") || in.Body != form.Get("Body") || in.From != form.Get("From") || in.To != form.Get("To") {
			t.Fatalf("fields changed on the way in: %+v from %v", in, form)
		}
		if !utf8.ValidString(in.Body) || in.From == "" || in.To == "" || len(in.MessageSID) != 34 || in.NumMedia < 0 {
			t.Fatalf("accepted what it must refuse: %+v", in)
		}
	})
}
