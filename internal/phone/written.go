package phone

import (
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Written finds one number in text the service did not write itself: a
// booking system's payload kept as it came ("07700 900401",
// "+44 7700 900401", "+44 (0)7700-900-401"), as well as its own records,
// keys and subjects ("+447700900401", "harbour.447700900401").
type Written struct {
	forms []string // the digits it is written with
}

// Written returns the finder of e164, in the forms numbers are written in:
// its country code and national significant number (after "+", "00" or
// nothing), the same with the trunk prefix kept ("+44 (0)7700 ..."), and,
// when the number is in one of r's countries (where national numbers are
// read as the clinic's), its national form with the trunk prefix.
func (r Rules) Written(e164 string) Written {
	num, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil {
		// Not one libphonenumber reads: its digits as given, at least.
		if d := digitsOf(e164); d != "" {
			return Written{forms: []string{d}}
		}
		return Written{}
	}
	cc := strconv.Itoa(int(num.GetCountryCode()))
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	_, region := kind(num)
	forms := []string{cc + nsn, "00" + cc + nsn}
	var national []string
	if trunk := phonenumbers.GetNddPrefixForRegion(region, true); trunk != "" {
		national = append(national, trunk+nsn)
		if trunk == "0" {
			forms = append(forms, cc+"0"+nsn, "00"+cc+"0"+nsn)
		}
	}
	national = append(national, digitsOf(phonenumbers.Format(num, phonenumbers.NATIONAL)))
	if slices.Contains(r.Countries, region) {
		forms = append(forms, national...)
	}
	forms = slices.DeleteFunc(forms, func(f string) bool { return len(f) < minDigits })
	slices.Sort(forms)
	return Written{forms: slices.Compact(forms)}
}

// minDigits keeps a form too short to be told from other numbers out.
const minDigits = 6

// In reports whether text names the number in one of its forms: its digits
// from the start of a run of digits to its end, with at most two of the
// characters numbers are written with (space, dash, dot, slash,
// brackets) between any two. A longer run of digits that holds the
// number's is another number, and does not match.
func (w Written) In(text []byte) bool {
	for i := range text {
		if !isDigit(text[i]) || i > 0 && isDigit(text[i-1]) {
			continue
		}
		for _, f := range w.forms {
			if spelled(text[i:], f) {
				return true
			}
		}
	}
	return false
}

// spelled reports whether text starts with form's digits, written with
// separators between them, and ends there.
func spelled(text []byte, form string) bool {
	j := 0
	for k := range len(form) {
		for n := 0; k > 0 && n < 2 && j < len(text) && isSeparator(text[j]); n++ {
			j++
		}
		if j >= len(text) || text[j] != form[k] {
			return false
		}
		j++
	}
	return j == len(text) || !isDigit(text[j])
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isSeparator(b byte) bool { return strings.IndexByte(" -./()", b) >= 0 }

func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' {
			return r
		}
		return -1
	}, s)
}
