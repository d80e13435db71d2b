package tips_test

import (
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/tips"
)

func clinicWithTexts(texts map[string]map[string][]string) aftercare.Clinic {
	return aftercare.Clinic{ID: "harbour", Name: "Harbour Massage", ContactPhone: "+442079460000",
		RebookURL: "https://harbour.example/book", Locale: "en", Texts: texts}
}

var deepTissue = []string{
	"Hi {first_name}, {clinic} ({clinic_phone}): deep tissue day 1, drink water. Pain 0-10 or WORSE? Book: {rebook_url} Reply STOP to opt out",
	"{clinic} ({clinic_phone}): deep tissue day 2, ice then heat. Pain 0-10 or WORSE? Reply STOP to opt out",
	"{clinic} ({clinic_phone}): deep tissue day 3, stretch gently. Pain 0-10 or WORSE? Reply STOP to opt out",
}

var spanishDefault = []string{
	"Hola {first_name}, {clinic} ({clinic_phone}): dia 1, beba agua. ¿Dolor 0-10 o PEOR? STOP para no recibir mas",
	"{clinic} ({clinic_phone}): dia 2. STOP para no recibir mas",
	"{clinic} ({clinic_phone}): dia 3. STOP para no recibir mas",
}

// A clinic's texts are chosen by the client's language first, then the
// session's service, then the clinic's default, then the built-in texts.
func TestBookPicksTheClinicsText(t *testing.T) {
	t.Parallel()
	book := tips.NewBook(clinicWithTexts(map[string]map[string][]string{
		"deep_tissue": {"en": deepTissue},
		"default":     {"es": spanishDefault},
	}))
	tests := []struct {
		service, name string
		locales       []string
		want          string
	}{
		{"deep_tissue", "Sam Jones", []string{"en-GB", "en"}, "Hi Sam, Harbour Massage (+442079460000): deep tissue day 1, drink water. Pain 0-10 or WORSE? Book: https://harbour.example/book Reply STOP to opt out"},
		{"pregnancy", "Sam", []string{"en"}, "Harbour Massage: Day 1: drink plenty of water today and rest sore spots. Pain 0-10, or WORSE? Tel +442079460000. Reply STOP to opt out"},
		{"deep_tissue", "Ana", []string{"es-MX", "en"}, "Hola Ana, Harbour Massage (+442079460000): dia 1, beba agua. ¿Dolor 0-10 o PEOR? STOP para no recibir mas"},
		{"", "", []string{"es"}, "Hola, Harbour Massage (+442079460000): dia 1, beba agua. ¿Dolor 0-10 o PEOR? STOP para no recibir mas"},
		{"deep_tissue", "", []string{"fr", "en"}, "Hi there, Harbour Massage (+442079460000): deep tissue day 1"},
		// A name outside GSM-7 would make the text UCS-2: it is left out.
		{"deep_tissue", "Łukasz", []string{"en"}, "Hi there, Harbour Massage"},
		{"deep_tissue", "Bartholomew-Alexander", []string{"en"}, "Hi there, Harbour Massage"},
	}
	for _, tt := range tests {
		got, err := book.Render(1, tt.service, tt.name, tt.locales...)
		if err != nil || !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s %q %v:\n got %q, %v\nwant %q", tt.service, tt.name, tt.locales, got, err, tt.want)
		}
	}
	if got, _ := book.Render(3, "deep_tissue", "", "en"); !strings.Contains(got, "deep tissue day 3") {
		t.Errorf("day 3: %q", got)
	}
}

func TestCheckClinicTexts(t *testing.T) {
	t.Parallel()
	with := func(day1 string) map[string]map[string][]string {
		return map[string]map[string][]string{"deep_tissue": {"en": {day1, deepTissue[1], deepTissue[2]}}}
	}
	if notes, err := tips.Check(clinicWithTexts(with(deepTissue[0]))); err != nil || len(notes) != 0 {
		t.Errorf("good texts: %v, %v", notes, err)
	}
	long := "{clinic} ({clinic_phone}): " + strings.Repeat("x", 110) + " Reply STOP to opt out"
	bad := []struct {
		texts map[string]map[string][]string
		want  string
	}{
		{with("{clinic} ({clinic_phone}): drink water."), `texts.deep_tissue.en day 1: must keep the opt-out hint "Reply STOP to opt out"`},
		{with("{clinic}: drink water. Reply STOP to opt out"), "texts.deep_tissue.en day 1: must name the clinic and its number"},
		{with("{clinic} {clinic_phone} {last_name}. Reply STOP to opt out"), "unknown merge field {last_name}"},
		{with(long), "texts.deep_tissue.en day 1: 165 GSM-7 characters with the longest merge values, over one segment (160)"},
		{with(strings.Replace(long, "x", "á", -1) + strings.Repeat("á", 50)), "UCS-2 (not GSM-7: 'á'), 4 segments with the longest merge values, over 3"},
		{with(strings.Repeat(long, 2)), "over one segment"},
		{map[string]map[string][]string{"deep_tissue": {"fr": deepTissue}}, `texts.deep_tissue.fr: no language file for "fr"`},
		{map[string]map[string][]string{"deep_tissue": {"en": deepTissue[:2]}}, "want 3 texts"},
		{map[string]map[string][]string{"Deep Tissue": {"en": deepTissue}}, `texts.Deep Tissue: a service is written in lowercase`},
	}
	for _, b := range bad {
		if _, err := tips.Check(clinicWithTexts(b.texts)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("error %v, want it to say %q", err, b.want)
		}
	}
	noLink := clinicWithTexts(with(deepTissue[0]))
	noLink.RebookURL = ""
	if _, err := tips.Check(noLink); err == nil || !strings.Contains(err.Error(), "no rebook_url") {
		t.Errorf("{rebook_url} without a link: %v", err)
	}
	// A text outside GSM-7 within the limit is allowed, and reported.
	ucs2 := "{clinic} ({clinic_phone}): día 1, agua. Reply STOP to opt out"
	notes, err := tips.Check(clinicWithTexts(with(ucs2)))
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], `clinic "harbour" texts.deep_tissue.en day 1: UCS-2 (not GSM-7: 'í'), 1 segment(s) each`) {
		t.Errorf("UCS-2 text: %q, %v", notes, err)
	}
}

func TestSegments(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text string
		n    int
		gsm  bool
	}{
		{strings.Repeat("a", 160), 1, true}, {strings.Repeat("a", 161), 2, true},
		{strings.Repeat("á", 70), 1, false}, {strings.Repeat("á", 71), 2, false}, {strings.Repeat("á", 135), 3, false},
	} {
		if n, gsm := tips.Segments(tt.text); n != tt.n || gsm != tt.gsm {
			t.Errorf("%d characters: %d segments, GSM-7 %v; want %d, %v", len([]rune(tt.text)), n, gsm, tt.n, tt.gsm)
		}
	}
}
