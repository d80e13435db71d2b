// Package phone reads phone numbers with libphonenumber's rules
// (github.com/nyaruka/phonenumbers): a national number in the clinic's
// country, an international one as written, and whether the number can
// take our texts at all. A number is stored in E.164 once read.
package phone

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// MaxInput bounds what is handed to the parser: a number written with
// spaces, dashes and a country code is well under it.
const MaxInput = 64

// Rules say which numbers a clinic may text.
type Rules struct {
	// Countries are ISO 3166 region codes ("GB"): the clinic texts numbers
	// of these countries only, and reads a national number ("07700 900123")
	// in the first. Empty: any country, and every number must be written
	// with its country code.
	Countries []string
}

// Error is a number that cannot be texted; Reason says why, ready to follow
// the field's name ("client.phone premium-rate numbers cannot be texted").
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func refuse(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Textable reads raw as a number the clinic may text and returns it in
// E.164. Refused: what is not a valid number, landlines (they cannot take
// texts), premium-rate, shared-cost and toll-free numbers (texts to them
// cost or reach no one), satellite and international-network numbers
// (+881, +882, +883, ...), pagers (no replies), personal, company (UAN),
// voicemail and VoIP numbers (they forward to a line we cannot see, or
// often take no texts), and numbers outside the clinic's countries. Mobile
// numbers, and those a country does not tell apart from landlines (the US,
// Canada, Mexico), are taken.
//
// Answers are remembered for a while (see recent): the planner checks again
// each number the intake checked moments before.
func (r Rules) Textable(raw string) (string, error) {
	key := strings.Join(r.Countries, ",") + "|" + raw
	if v, ok := recent.get(key); ok {
		return v.number, v.err
	}
	number, err := r.textable(raw)
	recent.put(key, verdict{number, err})
	return number, err
}

func (r Rules) textable(raw string) (string, error) {
	num, err := r.parse(raw)
	if err != nil {
		return "", err
	}
	typ, region := kind(num)
	switch typ {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	case phonenumbers.FIXED_LINE:
		return "", refuse("is a landline, which cannot receive texts")
	case phonenumbers.PREMIUM_RATE:
		return "", refuse("is a premium-rate number: premium-rate numbers cannot be texted")
	case phonenumbers.SHARED_COST:
		return "", refuse("is a shared-cost number: shared-cost numbers cannot be texted")
	case phonenumbers.TOLL_FREE:
		return "", refuse("is a toll-free number: toll-free numbers cannot be texted")
	case phonenumbers.PAGER:
		return "", refuse("is a pager number, which cannot reply")
	case phonenumbers.VOIP:
		return "", refuse("is a VoIP number, which often cannot receive texts: give a mobile number")
	case phonenumbers.PERSONAL_NUMBER:
		return "", refuse("is a personal (forwarding) number: give the mobile number it forwards to")
	case phonenumbers.UAN, phonenumbers.VOICEMAIL:
		return "", refuse("is a company or voicemail number, which cannot receive texts")
	default:
		return "", refuse("is not a mobile number")
	}
	if len(r.Countries) > 0 && !slices.Contains(r.Countries, region) {
		return "", refuse("is a number in %s; this clinic texts numbers in %s only", region, strings.Join(r.Countries, ", "))
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// NationalIn returns the rules reading a national number in region, which
// must be one of r's countries (a booking system's own setting).
func (r Rules) NationalIn(region string) Rules {
	if region == "" || !slices.Contains(r.Countries, region) {
		return r
	}
	return Rules{Countries: append([]string{region}, slices.DeleteFunc(slices.Clone(r.Countries), func(c string) bool { return c == region })...)}
}

// Number reads raw as any valid number a person can call (a clinic's own
// contact number may be a landline), national ones in the first country,
// and returns it in E.164: Italian "06 1234 5678" is +390612345678, the
// trunk 0 kept as Italy keeps it.
func (r Rules) Number(raw string) (string, error) {
	num, err := r.parse(raw)
	if err != nil {
		return "", err
	}
	switch typ, _ := kind(num); typ {
	case phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOICEMAIL:
		return "", refuse("is a premium-rate, shared-cost or voicemail number")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// Valid reads an E.164 number of any kind a person can call (a clinic's
// own contact number may be a landline) and returns its region, or an
// error saying why it is not one.
func Valid(e164 string) (region string, err error) {
	if !strings.HasPrefix(e164, "+") {
		return "", refuse("is not in E.164 form (a plus sign, country code and number: +442079460000)")
	}
	normal, err := Rules{}.Number(e164)
	if err != nil {
		return "", err
	}
	if normal != e164 {
		return "", refuse("is not in E.164 form: write it %s", normal)
	}
	num, _ := phonenumbers.Parse(normal, "ZZ")
	_, region = kind(num)
	return region, nil
}

// KnownRegion reports whether code is an ISO 3166 region with phone numbers.
func KnownRegion(code string) bool { return phonenumbers.GetSupportedRegions()[code] }

// RegionOfCallingCode is the main region of a calling code ("44": "GB"),
// or "".
func RegionOfCallingCode(code int) string {
	if r := phonenumbers.GetRegionCodeForCountryCode(code); r != "ZZ" && r != "001" {
		return r
	}
	return ""
}

// parse reads a valid number: national ones in the first country.
func (r Rules) parse(raw string) (*phonenumbers.PhoneNumber, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, refuse("is required")
	}
	if len(raw) > MaxInput {
		return nil, refuse("is longer than %d characters", MaxInput)
	}
	region := "ZZ" // no default: a number must carry its country code
	if len(r.Countries) > 0 {
		region = r.Countries[0]
	}
	num, err := phonenumbers.Parse(raw, region)
	if err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode) && region == "ZZ" && !strings.HasPrefix(raw, "+"):
			return nil, refuse("has no country code: write it in E.164 form (+447700900123)")
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			return nil, refuse("does not start with a country calling code")
		case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return nil, refuse("is too short to be a phone number")
		}
		return nil, refuse("is not a phone number")
	}
	if num.GetExtension() != "" {
		return nil, refuse("has an extension: texts cannot reach one")
	}
	if _, nonGeo := nonGeographic(num); nonGeo {
		return nil, refuse("is a satellite or international-network number (+%d): these cannot be texted", num.GetCountryCode())
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.INVALID_COUNTRY_CODE:
		return nil, refuse("+%d is not a country calling code", num.GetCountryCode())
	case phonenumbers.TOO_SHORT:
		return nil, refuse("is too short to be a phone number")
	case phonenumbers.TOO_LONG:
		return nil, refuse("is too long to be a phone number")
	case phonenumbers.INVALID_LENGTH:
		return nil, refuse("has the wrong number of digits for +%d", num.GetCountryCode())
	}
	if !phonenumbers.IsValidNumber(num) && !drama(num) {
		return nil, refuse("is not a valid phone number in %s", phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode())))
	}
	return num, nil
}

// nonGeographic reports a number of a calling code no country owns:
// satellite phones (+881), international networks (+882, +883), global
// freephone (+800) and the like.
func nonGeographic(num *phonenumbers.PhoneNumber) (string, bool) {
	region := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	return region, region == "001"
}

// kind is a valid number's type and region.
func kind(num *phonenumbers.PhoneNumber) (phonenumbers.PhoneNumberType, string) {
	if drama(num) {
		return phonenumbers.MOBILE, "GB"
	}
	return phonenumbers.GetNumberType(num), phonenumbers.GetRegionCodeForNumber(num)
}

// drama reports a number in Ofcom's range for drama, 07700 900000 to
// 900999: reserved so that films, documentation and tests never reach a
// real person. libphonenumber calls it invalid; we take it as a UK mobile,
// so examples and tests use numbers no one holds (Twilio refuses them,
// 21211, and the follow-up is dead-lettered).
func drama(num *phonenumbers.PhoneNumber) bool {
	n := num.GetNationalNumber()
	return num.GetCountryCode() == 44 && n >= 7700900000 && n <= 7700900999
}
