package phone_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/phone"
)

func TestTextable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
		countries []string
		want      string // E.164, or "" for refused
		says      string // in the refusal
	}{
		{"UK mobile, E.164", "+447400123456", []string{"GB"}, "+447400123456", ""},
		{"UK mobile, national", "07400 123456", []string{"GB"}, "+447400123456", ""},
		{"UK mobile, 00 prefix", "0044 7400 123456", []string{"GB"}, "+447400123456", ""},
		{"Ofcom drama range, a UK mobile", "07700 900123", []string{"GB"}, "+447700900123", ""},
		{"Italy landline: not textable", "06 1234 5678", []string{"IT"}, "", "landline"},
		{"Italy mobile", "+39 312 345 6789", []string{"IT"}, "+393123456789", ""},
		{"Argentine mobile, national", "011 15 2345-6789", []string{"AR"}, "+5491123456789", ""},
		{"Argentine mobile, international", "+54 9 11 2345 6789", []string{"AR"}, "+5491123456789", ""},
		{"US, national", "(202) 555-0123", []string{"US"}, "+12025550123", ""},
		{"US with its 1", "1-202-555-0123", []string{"US"}, "+12025550123", ""},
		{"Mexico", "+52 55 5555 0100", []string{"MX"}, "+525555550100", ""},
		{"a second allowed country", "+52 55 5555 0100", []string{"GB", "MX"}, "+525555550100", ""},
		{"any country when none are set", "+61 412 345 678", nil, "+61412345678", ""},

		{"UK landline", "020 7946 0000", []string{"GB"}, "", "landline"},
		{"US premium rate", "+1 900 555 0123", []string{"US"}, "", "premium-rate numbers cannot be texted"},
		{"UK premium rate", "09098 790000", []string{"GB"}, "", "premium-rate"},
		{"UK toll free", "0800 123 4567", []string{"GB"}, "", "toll-free"},
		{"UK personal number", "070 1234 5678", []string{"GB"}, "", "personal"},
		{"UK VoIP", "056 1234 5678", []string{"GB"}, "", "VoIP"},
		{"satellite", "+881 612 345 678", []string{"GB"}, "", "satellite"},
		{"international network", "+882 345 678 901", []string{"GB"}, "", "satellite"},
		{"international network +883", "+883 123 456 789", []string{"GB"}, "", "satellite"},
		{"no such country code", "+999 123 456", []string{"GB"}, "", "country calling code"},
		{"too short", "+12345678", []string{"US"}, "", "not a valid phone number"},
		{"outside the allowed countries", "+39 312 345 6789", []string{"GB"}, "", "in IT; this clinic texts numbers in GB only"},
		{"national with no country", "07400 123456", nil, "", "no country code"},
		{"drama range outside GB", "+447700900123", []string{"MX"}, "", "in GB"},
		{"words", "call my mum", []string{"GB"}, "", "not a phone number"},
		{"an extension", "+44 7400 123456 ext 2", []string{"GB"}, "", "extension"},
		{"empty", "", []string{"GB"}, "", "required"},
		{"over-long", strings.Repeat("1", 100), []string{"GB"}, "", "longer than"},
		{"invalid in its country", "+44 7700 901234", []string{"GB"}, "", "not a valid phone number in GB"},
	}
	for _, tt := range tests {
		got, err := phone.Rules{Countries: tt.countries}.Textable(tt.raw)
		var refused *phone.Error
		switch {
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("%s: Textable(%q) = %q, %v; want %s", tt.name, tt.raw, got, err, tt.want)
		case tt.want == "" && (!errors.As(err, &refused) || !strings.Contains(err.Error(), tt.says)):
			t.Errorf("%s: Textable(%q) = %q, %v; want refused saying %q", tt.name, tt.raw, got, err, tt.says)
		}
	}
}

// Number reads any callable number, national ones in the first country:
// the hand parser once dropped Italy's leading 0 and misread Argentine
// mobiles written nationally.
func TestNumber(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ raw, country, want string }{
		{"06 1234 5678", "IT", "+390612345678"},
		{"+39 06 1234 5678", "GB", "+390612345678"},
		{"011 15 2345-6789", "AR", "+5491123456789"},
		{"020 7946 0000", "GB", "+442079460000"},
		{"+1 900 555 0123", "US", ""},
		{"+881 612 345 678", "GB", ""},
	} {
		got, err := phone.Rules{Countries: []string{tt.country}}.Number(tt.raw)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("Number(%q in %s) = %q, %v; want %q", tt.raw, tt.country, got, err, tt.want)
		}
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	for raw, region := range map[string]string{
		"+442079460000": "GB", "+447700900100": "GB", "+525555550100": "MX", "+12025550123": "US",
		"+19005550123": "", "02079460000": "", "+44 20 7946 0000": "", "+881612345678": "", "+12345678": "",
	} {
		got, err := phone.Valid(raw)
		if got != region || (region == "") != (err != nil) {
			t.Errorf("Valid(%q) = %q, %v; want %q", raw, got, err, region)
		}
	}
}

func TestNationalIn(t *testing.T) {
	t.Parallel()
	r := phone.Rules{Countries: []string{"GB", "IE"}}
	if got, err := r.NationalIn("IE").Textable("087 123 4567"); err != nil || got != "+353871234567" {
		t.Errorf("Irish national number: %q, %v", got, err)
	}
	if got := r.NationalIn("FR"); fmt.Sprint(got.Countries) != "[GB IE]" {
		t.Errorf("a region outside the countries changes them: %v", got.Countries)
	}
}

func ExampleRules_Textable() {
	rules := phone.Rules{Countries: []string{"IT"}}
	fmt.Println(rules.Textable("312 345 6789"))
	_, err := rules.Textable("06 1234 5678")
	fmt.Println(err)
	_, err = phone.Rules{Countries: []string{"US"}}.Textable("+1 900 555 0123")
	fmt.Println(err)
	// Output:
	// +393123456789 <nil>
	// is a landline, which cannot receive texts
	// is a premium-rate number: premium-rate numbers cannot be texted
}
