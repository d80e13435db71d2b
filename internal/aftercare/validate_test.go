package aftercare_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/phone"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// checks are a UK clinic's.
var checks = aftercare.Checks{LoadZone: time.LoadLocation, Phone: phone.Rules{Countries: []string{"GB"}}.Textable}

func ptr[T any](v T) *T { return &v }

func valid() aftercare.SessionEvent {
	return aftercare.SessionEvent{
		EventID: "evt-1", SessionID: "s-1", Kind: aftercare.KindCompleted,
		SessionEnd: ptr(now.Add(-time.Hour)),
		Client:     &aftercare.Client{Phone: "+447700900123", TimeZone: "Europe/London", Locale: "en-GB"},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*aftercare.SessionEvent)
		fields []string
	}{
		{"valid", func(*aftercare.SessionEvent) {}, nil},
		{"service a key", func(e *aftercare.SessionEvent) { e.Service = "deep_tissue" }, nil},
		{"service a name, not a key", func(e *aftercare.SessionEvent) { e.Service = "Deep Tissue" }, []string{"service"}},
		{"service too long", func(e *aftercare.SessionEvent) { e.Service = strings.Repeat("a", 41) }, []string{"service"}},
		{"phone national, read in the clinic's country", func(e *aftercare.SessionEvent) { e.Client.Phone = "07700 900123" }, nil},
		{"phone a landline", func(e *aftercare.SessionEvent) { e.Client.Phone = "020 7946 0000" }, []string{"client.phone"}},
		{"phone premium rate", func(e *aftercare.SessionEvent) { e.Client.Phone = "+19005550123" }, []string{"client.phone"}},
		{"phone missing", func(e *aftercare.SessionEvent) { e.Client.Phone = "" }, []string{"client.phone"}},
		{"unknown time zone", func(e *aftercare.SessionEvent) { e.Client.TimeZone = "Mars/Olympus" }, []string{"client.time_zone"}},
		{"zone path escape", func(e *aftercare.SessionEvent) { e.Client.TimeZone = "../../etc/passwd" }, []string{"client.time_zone"}},
		{"end missing", func(e *aftercare.SessionEvent) { e.SessionEnd = nil }, []string{"session_end"}},
		{"end absurdly old", func(e *aftercare.SessionEvent) { e.SessionEnd = ptr(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)) }, []string{"session_end"}},
		{"end absurdly far ahead", func(e *aftercare.SessionEvent) { e.SessionEnd = ptr(now.AddDate(3, 0, 0)) }, []string{"session_end"}},
		{"unknown kind", func(e *aftercare.SessionEvent) { e.Kind = "finished" }, []string{"kind"}},
		{"kind missing", func(e *aftercare.SessionEvent) { e.Kind = "" }, []string{"kind"}},
		{"rescheduled without new time", func(e *aftercare.SessionEvent) { e.Kind = aftercare.KindRescheduled }, []string{"new_session_end"}},
		{"cancelled needs no end or client", func(e *aftercare.SessionEvent) {
			e.Kind, e.SessionEnd, e.Client = aftercare.KindCancelled, nil, nil
		}, nil},
		{"completed needs a client", func(e *aftercare.SessionEvent) { e.Client = nil }, []string{"client"}},
		{"bad locale", func(e *aftercare.SessionEvent) { e.Client.Locale = "english please" }, []string{"client.locale"}},
		{"ids missing, several problems at once", func(e *aftercare.SessionEvent) {
			e.EventID, e.SessionID, e.Client.Phone = "", "", "123"
		}, []string{"event_id", "session_id", "client.phone"}},
		{"control characters in an id", func(e *aftercare.SessionEvent) { e.SessionID = "s\n1" }, []string{"session_id"}},
		{"over-long ids", func(e *aftercare.SessionEvent) {
			e.EventID, e.SessionID = strings.Repeat("e", aftercare.MaxIDLength+1), strings.Repeat("~", 3000)
		}, []string{"event_id", "session_id"}},
		{"a zero-width space in an id", func(e *aftercare.SessionEvent) { e.SessionID = "s\u200b1" }, []string{"session_id"}},
		{"CR LF in the name", func(e *aftercare.SessionEvent) { e.Client.Name = "Sam\r\nSet-Cookie: a" }, []string{"client.name"}},
		{"a C1 control in the name", func(e *aftercare.SessionEvent) { e.Client.Name = "Sam\u0085" }, []string{"client.name"}},
		{"a line separator in the name", func(e *aftercare.SessionEvent) { e.Client.Name = "Sam\u2028Jones" }, []string{"client.name"}},
		{"a right-to-left override in the name", func(e *aftercare.SessionEvent) { e.Client.Name = "Sam\u202Egpj.exe" }, []string{"client.name"}},
		{"an accented name", func(e *aftercare.SessionEvent) { e.Client.Name = "José María" }, nil},
		{"a line separator in an id", func(e *aftercare.SessionEvent) { e.EventID = "e\u20281" }, []string{"event_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := valid()
			c := *ev.Client
			ev.Client = &c
			tt.change(&ev)
			err := ev.Validate(now, checks)
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var v *aftercare.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			var got []string
			for _, p := range v.Problems {
				got = append(got, p.Field)
				if p.Message == "" {
					t.Errorf("field %s has no message", p.Field)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.fields) {
				t.Errorf("problems in %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
}

func ExampleMaskPhone() {
	fmt.Println(aftercare.MaskPhone("+447700900123"))
	// Output: +44********23
}

// Validate stores the number in the E.164 form the clinic's check returns,
// and names the field and the reason when it refuses one.
func TestValidatePhone(t *testing.T) {
	t.Parallel()
	ev := valid()
	ev.Client.Phone = "07700 900123"
	if err := ev.Validate(now, checks); err != nil || ev.Client.Phone != "+447700900123" {
		t.Fatalf("national number: %v, phone %q", err, ev.Client.Phone)
	}
	ev.Client.Phone = "+1 900 555 0123"
	err := ev.Validate(now, aftercare.Checks{LoadZone: time.LoadLocation, Phone: phone.Rules{Countries: []string{"US"}}.Textable})
	if err == nil || err.Error() != "invalid input: client.phone: is a premium-rate number: premium-rate numbers cannot be texted" {
		t.Fatalf("premium rate: %v", err)
	}
}

func TestIDProblem(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"appt-5521": true, "calcom:BOOKING_CREATED:uid 1:2026-11-23T10:00:00Z": true, "évènement": true,
		strings.Repeat("a", aftercare.MaxIDLength): true,
		"": false, strings.Repeat("a", aftercare.MaxIDLength+1): false, strings.Repeat("é", 65): false,
		"a\x00b": false, "a\tb": false, "a\u00a0b": false, "a\u202eb": false, "a\xffb": false,
	} {
		if got := aftercare.IDProblem(id); (got == "") != ok {
			t.Errorf("IDProblem(%.40q) = %q, want ok=%v", id, got, ok)
		}
	}
}

func TestServiceKey(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"Deep Tissue Massage (60 min)": "deep_tissue_massage_60_min",
		"sports-massage-60":            "sports_massage_60",
		"  Pregnancy massage  ":        "pregnancy_massage",
		"deep_tissue":                  "deep_tissue",
		"Massagé ★":                    "massage",
		"Masaje terapéutico":           "masaje_terapeutico",
		strings.Repeat("ab ", 20):      strings.TrimRight(strings.Repeat("ab_", 14)[:40], "_"),
	} {
		if got := aftercare.ServiceKey(name); got != want {
			t.Errorf("ServiceKey(%q) = %q, want %q", name, got, want)
		}
	}
}
