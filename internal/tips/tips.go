// Package tips holds the aftercare texts sent on each follow-up day and the
// GSM-7 rules that keep every one of them to a single SMS segment.
package tips

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// MaxClinicName is the longest clinic name the texts leave room for: with it,
// and the longest phone number, every built-in text still fits one
// 160-character GSM-7 segment.
const MaxClinicName = 30

// SegmentLimit is the length of one GSM-7 SMS segment.
const SegmentLimit = 160

// Steps is how many steps have texts.
const Steps = 3

// The advice follows common massage aftercare: water on day 1, cold for
// swelling or warmth for tight muscles on day 2, gentle pain-free stretching
// on day 3. Each names the clinic and its number (the FCC's healthcare
// exemption asks for both) and asks for a pain score or WORSE, so a client who
// is getting worse can say so in one word. Spanish avoids á, í, ó and ú,
// which are not in GSM-7 and would cut the segment to 70 characters.
//
// A language is a file in texts/: its three tips, the opt-out hint every
// text in it must keep, and the word used for a first name we lack. Adding a
// language is adding a file.
//
//go:embed texts/*.json
var textFiles embed.FS

// language is one file of texts/.
type language struct {
	OptOut string   `json:"opt_out"`
	NoName string   `json:"no_name"`
	Tips   []string `json:"tips"`
}

var languages = loadLanguages()

func loadLanguages() map[string]language {
	files, err := fs.Glob(textFiles, "texts/*.json")
	if err != nil {
		panic(err)
	}
	out := map[string]language{}
	for _, name := range files {
		raw, err := textFiles.ReadFile(name)
		if err != nil {
			panic(err)
		}
		var l language
		if err := json.Unmarshal(raw, &l); err != nil || len(l.Tips) != Steps || l.OptOut == "" {
			panic(fmt.Sprintf("tips: %s: want opt_out and %d tips: %v", name, Steps, err))
		}
		out[strings.TrimSuffix(path.Base(name), ".json")] = l
	}
	return out
}

// DefaultLanguage is used when neither the client's nor the clinic's locale
// has texts.
const DefaultLanguage = "en"

// Languages lists the languages with built-in texts.
func Languages() []string { return slices.Sorted(maps.Keys(languages)) }

// Supported reports whether a locale's language has built-in texts.
func Supported(locale string) bool {
	_, ok := languages[aftercare.Language(locale)]
	return ok
}

// OptOutHint is the opt-out hint every text in a language keeps.
func OptOutHint(lang string) string { return languages[lang].OptOut }

// pick returns the first of locales' languages that has built-in texts.
func pick(locales []string) string {
	for _, l := range locales {
		if Supported(l) {
			return aftercare.Language(l)
		}
	}
	return DefaultLanguage
}

// Render returns the built-in text for a follow-up step. locales are tried
// in order (the client's, then the clinic's); the first with texts wins.
func Render(step aftercare.Step, f TipFields, locales ...string) (string, error) {
	lang := pick(locales)
	if step < 1 || int(step) > Steps {
		return "", fmt.Errorf("no aftercare text for step %d", step)
	}
	return merge(languages[lang].Tips[step-1], f, lang), nil
}

// gsm7Basic is the GSM 03.38 default alphabet; gsm7Extended characters are
// sent with an escape and count twice.
const (
	gsm7Basic    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Extended = "^{}\\[~]|€\f"
)

// GSM7Length returns the number of GSM-7 septets text needs, and false if
// any character is outside GSM-7 (the message would be sent as UCS-2).
func GSM7Length(text string) (int, bool) {
	n := 0
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7Basic, r):
			n++
		case strings.ContainsRune(gsm7Extended, r):
			n += 2
		default:
			return 0, false
		}
	}
	return n, true
}

// FitsOneSegment reports whether text is sent as a single GSM-7 segment.
func FitsOneSegment(text string) bool {
	n, ok := GSM7Length(text)
	return ok && n <= SegmentLimit
}
