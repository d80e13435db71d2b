package phone

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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
// from the start of a run of digits to its end, with at most three of the
// characters numbers are written with between any two (space, dash, dot,
// slash, brackets, tab; a no-break, thin or other Unicode space or dash, in
// UTF-8 or as a JSON escape such as \u00a0, as booking systems' payloads
// carry what their clients typed). A longer run of digits that holds the
// number's is another number, and does not match.
func (w Written) In(text []byte) bool {
	for i := range text {
		// A number starts a run of digits, or follows a separator written
		// as an escape ("\u00a007700 ..."), whose hex may end in a digit.
		if !isDigit(text[i]) || i > 0 && isDigit(text[i-1]) && (i < 6 || separatorAt(text[i-6:]) != 6) {
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
		for n := 0; k > 0 && n < maxSeparators && j < len(text); n++ {
			size := separatorAt(text[j:])
			if size == 0 {
				break
			}
			j += size
		}
		if j >= len(text) || text[j] != form[k] {
			return false
		}
		j++
	}
	return j == len(text) || !isDigit(text[j])
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// maxSeparators bounds the separators between two digits ("07700 - 900").
const maxSeparators = 3

// separatorAt is the length of the separator text starts with, 0 if none:
// an ASCII one, a Unicode space or dash in UTF-8, or one written as a JSON
// \uXXXX escape.
func separatorAt(text []byte) int {
	if strings.IndexByte(" -./()\t", text[0]) >= 0 {
		return 1
	}
	if len(text) >= 6 && text[0] == '\\' && text[1] == 'u' {
		if r, err := strconv.ParseUint(string(text[2:6]), 16, 32); err == nil && unicodeSeparator(rune(r)) {
			return 6
		}
		return 0
	}
	if r, size := utf8.DecodeRune(text); size > 1 && unicodeSeparator(r) {
		return size
	}
	return 0
}

// unicodeSeparator: the spaces and dashes people's keyboards and phones
// put in numbers (no-break, thin and ideographic spaces, hyphens, minus).
func unicodeSeparator(r rune) bool {
	switch {
	case r == 0x00a0, r == 0x202f, r == 0x3000, r == 0x2212:
		return true
	case 0x2000 <= r && r <= 0x200b, 0x2010 <= r && r <= 0x2015:
		return true
	}
	return false
}

func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' {
			return r
		}
		return -1
	}, s)
}
