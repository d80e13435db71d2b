package tips_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/tips"
)

// Every built-in text, with the longest clinic name allowed and the longest
// phone number there is, is one GSM-7 segment, names the clinic and its
// number, and carries the opt-out hint and the invitation to reply.
func TestEveryTextFitsOneSegment(t *testing.T) {
	t.Parallel()
	longest := strings.Repeat("W", tips.MaxClinicName)
	longestPhone := "+" + strings.Repeat("9", 15) // E.164 allows 15 digits
	for _, lang := range tips.Languages() {
		for step := aftercare.Step(1); step <= tips.Steps; step++ {
			t.Run(fmt.Sprintf("%s/day%d", lang, step), func(t *testing.T) {
				text, err := tips.Render(step, tips.TipFields{Clinic: longest, ClinicPhone: longestPhone}, lang)
				if err != nil {
					t.Fatal(err)
				}
				n, ok := tips.GSM7Length(text)
				if !ok {
					t.Fatalf("text is not GSM-7: %q", text)
				}
				if n > tips.SegmentLimit {
					t.Fatalf("text is %d septets, over %d: %q", n, tips.SegmentLimit, text)
				}
				if !strings.Contains(text, tips.OptOutHint(lang)) {
					t.Error("no opt-out hint")
				}
				if !strings.Contains(text, longestPhone) {
					t.Error("no clinic number")
				}
				if !strings.Contains(text, "0") || !(strings.Contains(text, "WORSE") || strings.Contains(text, "PEOR")) {
					t.Error("no invitation to reply with a pain score or WORSE")
				}
				if !strings.HasPrefix(text, longest+":") {
					t.Error("text does not start with the clinic's name")
				}
			})
		}
	}
}

func TestTopicsPerDay(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"en": {"water", "heat", "stretch"},
		"es": {"agua", "calor", "Estiramientos"},
	}
	for lang, words := range want {
		for i, w := range words {
			text, _ := tips.Render(aftercare.Step(i+1), tips.TipFields{Clinic: "Clinic"}, lang)
			if !strings.Contains(text, w) {
				t.Errorf("%s day %d: %q lacks %q", lang, i+1, text, w)
			}
		}
	}
}

func TestLocaleFallback(t *testing.T) {
	t.Parallel()
	es, _ := tips.Render(1, tips.TipFields{Clinic: "C"}, "es-MX", "en")
	if !strings.Contains(es, "Dia 1") {
		t.Errorf("es-MX should use Spanish: %q", es)
	}
	fr, _ := tips.Render(1, tips.TipFields{Clinic: "C"}, "fr", "es")
	if !strings.Contains(fr, "Dia 1") {
		t.Errorf("unsupported client locale should fall back to the clinic's: %q", fr)
	}
	none, _ := tips.Render(1, tips.TipFields{Clinic: "C"}, "fr", "de")
	if !strings.Contains(none, "Day 1") {
		t.Errorf("no supported locale should fall back to English: %q", none)
	}
	if _, err := tips.Render(4, tips.TipFields{Clinic: "C"}, "en"); err == nil {
		t.Error("step 4 has no text: want an error")
	}
}

func TestGSM7Length(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		n    int
		ok   bool
	}{
		{"hello", 5, true},
		{"¿Dolor? ñ é", 11, true},
		{"€5 [x]", 9, true},        // € [ ] are escaped: two septets each
		{"it’s", 0, false},         // curly apostrophe
		{"dolor — peor", 0, false}, // em dash
		{"más", 0, false},          // á is not GSM-7
		{"ok 👍", 0, false},
	}
	for _, tt := range tests {
		n, ok := tips.GSM7Length(tt.text)
		if n != tt.n || ok != tt.ok {
			t.Errorf("GSM7Length(%q) = %d, %v; want %d, %v", tt.text, n, ok, tt.n, tt.ok)
		}
	}
}

func ExampleRender() {
	text, _ := tips.Render(1, tips.TipFields{Clinic: "Harbour Massage", ClinicPhone: "+442079460000"}, "en")
	fmt.Println(text)
	// Output: Harbour Massage: Day 1: drink plenty of water today and rest sore spots. Pain 0-10, or WORSE? Tel +442079460000. Reply STOP to opt out
}

func TestAnswersFitTwoSegments(t *testing.T) {
	t.Parallel()
	// The longest crisis line there is, by number and name.
	f := tips.Fields{Clinic: strings.Repeat("W", tips.MaxClinicName), Contact: "+442079460000", Emergency: "999",
		CrisisNumber: "0800 111 0 111", CrisisName: "TelefonSeelsorge", ReplyBy: strings.Repeat("w", tips.MaxReplyBy)}
	for _, lang := range tips.Languages() {
		for _, a := range []tips.Answer{tips.AnswerWorsening, tips.AnswerRedFlag, tips.AnswerHelp, tips.AnswerOptOut, tips.AnswerOptIn, tips.AnswerQuestion,
			tips.AnswerUnknownClient, tips.AnswerUnknownNumber, tips.AnswerCrisis, tips.AnswerCrisisNoLine} {
			text, err := tips.RenderAnswer(a, f, lang)
			if err != nil {
				t.Fatal(err)
			}
			n, ok := tips.GSM7Length(text)
			if !ok || n > 2*153 {
				t.Errorf("%s %s: %d septets, GSM-7 %v: %q", lang, a, n, ok, text)
			}
			if strings.Contains(text, "%!") {
				t.Errorf("%s %s: bad template: %q", lang, a, text)
			}
		}
	}
	for _, lang := range tips.Languages() {
		crisis, _ := tips.RenderAnswer(tips.AnswerCrisis, f, lang)
		if !strings.Contains(crisis, "0800 111 0 111") || !strings.Contains(crisis, "TelefonSeelsorge") || !strings.Contains(crisis, "999") {
			t.Errorf("%s crisis answer %q must give the crisis line and the emergency number", lang, crisis)
		}
	}
	if _, err := tips.RenderAnswer(tips.AnswerCrisis, tips.Fields{Clinic: "C", Emergency: "999"}, "en"); err == nil {
		t.Error("a crisis answer without a line rendered")
	}
	red, _ := tips.RenderAnswer(tips.AnswerRedFlag, f, "en")
	if !strings.Contains(red, "999") || !strings.Contains(red, "urgent") {
		t.Errorf("red-flag answer %q must give the emergency number", red)
	}
	help, _ := tips.RenderAnswer(tips.AnswerHelp, f, "es-MX")
	if !strings.Contains(help, f.Clinic) || !strings.Contains(help, "+442079460000") || !strings.Contains(help, "llame") {
		t.Errorf("help answer %q must name the clinic and its contact, in Spanish", help)
	}
}

func BenchmarkRender(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := tips.Render(aftercare.Step(i%3+1), tips.TipFields{Clinic: "Harbour Massage", ClinicPhone: "+442079460000"}, "es-MX", "en"); err != nil {
			b.Fatal(err)
		}
	}
}

// A client's question is read by staff now (the inbox): the answer says
// when they will reply and what to do if it is urgent, never that nobody
// reads it.
func TestQuestionAnswerSaysWhenTheClinicReplies(t *testing.T) {
	t.Parallel()
	f := tips.Fields{Clinic: "Harbour Massage", Contact: "+442079460000", Emergency: "999"}
	for _, tc := range []struct{ lang, replyBy, want, urgent string }{
		{"en", "", "will reply within one working day", "If it is urgent, call us on +442079460000, or 999"},
		{"es", "", "le respondera en un dia laborable", "Si es urgente, llamenos al +442079460000, o al 999"},
		{"en", "by 6pm on weekdays", "will reply by 6pm on weekdays", "999"},
	} {
		f.ReplyBy = tc.replyBy
		text, err := tips.RenderAnswer(tips.AnswerQuestion, f, tc.lang)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, tc.want) || !strings.Contains(text, tc.urgent) {
			t.Errorf("%s answer %q: want %q and %q", tc.lang, text, tc.want, tc.urgent)
		}
		if strings.Contains(text, "do not read") || strings.Contains(text, "no lee") {
			t.Errorf("%s answer %q still says nobody reads texts", tc.lang, text)
		}
	}
}
