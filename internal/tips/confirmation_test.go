package tips_test

import (
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/tips"
)

// The confirmation of a client's first session fits one GSM-7 segment with
// the longest clinic name and number, names the clinic and its number, and
// keeps its language's opt-out hint.
func TestConfirmationFitsOneSegment(t *testing.T) {
	t.Parallel()
	f := tips.Fields{Clinic: strings.Repeat("W", tips.MaxClinicName), Contact: "+442079460000123"}
	for _, lang := range tips.Languages() {
		text, err := tips.RenderAnswer(tips.AnswerConfirmation, f, lang)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := tips.GSM7Length(text); !ok || n > 160 {
			t.Errorf("%s: %d septets, GSM-7 %v: %q", lang, n, ok, text)
		}
		if !strings.HasPrefix(text, f.Clinic+":") || !strings.Contains(text, f.Contact) || !strings.Contains(text, tips.OptOutHint(lang)) {
			t.Errorf("%s: %q must name the clinic and its number and keep %q", lang, text, tips.OptOutHint(lang))
		}
	}
}
