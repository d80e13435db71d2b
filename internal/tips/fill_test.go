package tips

import (
	"strings"
	"testing"
)

// FuzzFillAsReplacer: fill, which renders every text sent, puts the merge
// fields in as the strings.Replacer it replaced did, on any template.
func FuzzFillAsReplacer(f *testing.F) {
	for _, tmpl := range []string{
		"Hi {first_name}, from {clinic} ({clinic_phone}): {rebook_url}",
		"{clinic_phone}{clinic}{{first_name}}{", "{clinic_", "}{first_name", "no fields", "",
		"{rebook_url}{rebook_url} {unknown} {first_name",
	} {
		f.Add(tmpl, "Ana", "{clinic}", "+1 555", "https://x/{first_name}")
	}
	f.Fuzz(func(t *testing.T, tmpl, name, clinic, phone, url string) {
		want := strings.NewReplacer("{first_name}", name, "{clinic}", clinic, "{clinic_phone}", phone, "{rebook_url}", url).Replace(tmpl)
		if got := fill(tmpl, [len(mergeFields)]string{name, clinic, phone, url}); got != want {
			t.Fatalf("fill(%q) = %q, want %q", tmpl, got, want)
		}
	})
}
