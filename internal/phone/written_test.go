package phone_test

import (
	"testing"

	"github.com/aftercare/aftercare/internal/phone"
)

// Written finds a client's number as booking systems and the service's own
// keys write it, and not in another number that holds its digits.
func TestWritten(t *testing.T) {
	t.Parallel()
	gb := phone.Rules{Countries: []string{"GB"}}
	for _, tt := range []struct {
		name  string
		rules phone.Rules
		e164  string
		text  string
		found bool
	}{
		{"E.164", gb, "+447700900401", `{"phone":"+447700900401"}`, true},
		{"a key's digits", gb, "+447700900401", "harbour.447700900401", true},
		{"international with spaces", gb, "+447700900401", `"+44 7700 900401"`, true},
		{"00 and dashes", gb, "+447700900401", "0044-7700-900-401", true},
		{"the trunk 0 kept", gb, "+447700900401", "+44 (0)7700 900401", true},
		{"national, Mindbody's", gb, "+447700900401", `"clientPhone":"07700 900401"`, true},
		{"national with dots", gb, "+447700900401", "07700.900.401", true},
		{"national in brackets", gb, "+447700900401", "(07700) 900401", true},
		{"US national", phone.Rules{Countries: []string{"US"}}, "+12025550123", `"(202) 555-0123"`, true},
		{"US with its 1", phone.Rules{Countries: []string{"US"}}, "+12025550123", "1-202-555-0123", true},
		{"spaced dash, as typed", gb, "+447700900401", `"07700 - 900 401"`, true},
		{"no-break spaces in UTF-8", gb, "+447700900401", "+44\u00a07700\u00a0900401", true},
		{"no-break spaces as JSON escapes", gb, "+447700900401", `"+44\u00a07700\u00A0900401"`, true},
		{"a thin space and a hyphen", gb, "+447700900401", "07700\u2009900\u2010401", true},
		{"tabs", gb, "+447700900401", "07700\t900\t401", true},
		{"national right after an escaped space", gb, "+447700900401", `"\u00a007700 900401"`, true},
		{"00 right after an escaped thin space", gb, "+447700900401", `\u20090044 7700 900401`, true},

		{"national, not in the clinic's countries", phone.Rules{Countries: []string{"MX"}}, "+447700900401", "07700 900401", false},
		{"national, no countries", phone.Rules{}, "+447700900401", "07700 900401", false},
		{"a longer number", gb, "+447700900401", "+4477009004012", false},
		{"a longer number, written", gb, "+447700900401", "07700 9004015", false},
		{"inside a longer run", gb, "+447700900401", "9447700900401", false},
		{"a neighbour", gb, "+447700900401", "+44 7700 900402", false},
		{"four separators between two digits", gb, "+447700900401", "07700 -- - 900401", false},
		{"an escape that is no separator", gb, "+447700900401", `07700\u0041900401`, false},
		{"a letter between", gb, "+447700900401", "07700x900401", false},
	} {
		if got := tt.rules.Written(tt.e164).In([]byte(tt.text)); got != tt.found {
			t.Errorf("%s: Written(%s).In(%q) = %v, want %v", tt.name, tt.e164, tt.text, got, tt.found)
		}
	}
}
