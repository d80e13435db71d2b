package intake_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/phone"
)

var validEvent = `{"event_id":"e1","session_id":"s1","kind":"completed","session_end":"2026-11-23T15:00:00Z",` +
	`"client":{"phone":"+447700900123","name":"Ana","time_zone":"Europe/London","locale":"en"}}`

func TestDecodeRefusesWhatItWouldHaveToGuessAt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"repeated field", `{"event_id":"e1","session_id":"s1","session_id":"s2","kind":"completed"}`, `"session_id" appears more than once`},
		{"repeated in another case", `{"event_id":"e1","session_id":"s1","SESSION_ID":"s2","kind":"completed"}`, `"SESSION_ID" appears more than once`},
		{"repeated, folding ſ to s", `{"event_id":"e1","session_id":"s1","ſession_id":"s2","kind":"completed"}`, `appears more than once`},
		{"repeated, folding the Kelvin sign to k", `{"event_id":"e1","session_id":"s1","kind":"cancelled","Kind":"completed"}`, `appears more than once`},
		{"repeated nested, three spellings", `{"event_id":"e1","session_id":"s1","kind":"completed","client":{"phone":"+1","phoNe":"+2"}}`, `"phoNe" appears more than once`},
		{"repeated nested", `{"event_id":"e1","session_id":"s1","kind":"completed","client":{"phone":"+1","phone":"+2"}}`, `"phone" appears more than once`},
		{"bad UTF-8", "{\"event_id\":\"e\xff1\",\"session_id\":\"s1\",\"kind\":\"completed\"}", "not UTF-8"},
		{"unknown field", `{"event_id":"e1","sesion_id":"s1"}`, `unknown field "sesion_id"`},
		{"trailing data", validEvent + `{}`, "after the JSON object"},
		{"empty", ``, "empty body"},
	}
	for _, tt := range tests {
		_, err := intake.Decode([]byte(tt.body))
		var bad *intake.MalformedError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want a malformed-request error saying %q", tt.name, err, tt.want)
		}
	}
	// The same names in different objects are not repeats.
	if _, err := intake.Decode([]byte(validEvent)); err != nil {
		t.Fatalf("a valid event: %v", err)
	}
}

// FuzzDecode: any body is either an event taken whole (valid, and reading
// its own encoding back gives the same event) or refused with a
// malformed-request or validation error that says what is wrong. Seeds are
// in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validEvent))
	f.Add([]byte(`{"event_id":"e2","session_id":"s1","kind":"rescheduled","new_session_end":"2026-11-24T15:00:00+01:00","client":{"phone":"+447700900123"}}`))
	f.Add([]byte(`{"event_id":"e3","session_id":"s1","kind":"cancelled"}`))
	now := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := intake.Decode(body)
		if err != nil {
			var bad *intake.MalformedError
			if !errors.As(err, &bad) || bad.Reason == "" {
				t.Fatalf("refusal without a reason: %#v", err)
			}
			return
		}
		if err := ev.Validate(now, aftercare.Checks{LoadZone: time.LoadLocation, Phone: phone.Rules{Countries: []string{"GB"}}.Textable}); err != nil {
			if err.Error() == "" {
				t.Fatal("validation error with no message")
			}
			return
		}
		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("an accepted event does not encode: %v", err)
		}
		back, err := intake.Decode(again)
		if err != nil {
			t.Fatalf("an accepted event's own encoding is refused: %v\n%s", err, again)
		}
		if twice, _ := json.Marshal(back); string(twice) != string(again) {
			t.Fatalf("accepted event changed on a round trip:\n%s\n%s", again, twice)
		}
		if ev.EventID == "" || ev.SessionID == "" || (ev.Client != nil && !strings.HasPrefix(ev.Client.Phone, "+")) {
			t.Fatalf("accepted an event missing what validation requires: %+v", ev)
		}
	})
}
