// Package tips holds the aftercare texts sent on each follow-up day and the
// GSM-7 rules that keep every one of them to a single SMS segment.
package tips

import (
	"fmt"
	"strings"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// MaxClinicName is the longest clinic name the texts leave room for: with it,
// every built-in text still fits one 160-character GSM-7 segment.
const MaxClinicName = 30

// SegmentLimit is the length of one GSM-7 SMS segment.
const SegmentLimit = 160

// The advice follows common massage aftercare: water on day 1, cold for
// swelling or warmth for tight muscles on day 2, gentle pain-free stretching
// on day 3. Each asks for a pain score or WORSE so a client who is getting
// worse can say so in one word. Spanish avoids á, í, ó and ú, which are not
// in GSM-7 and would halve the segment to 70 characters.
var texts = map[string]map[aftercare.Step]string{
	"en": {
		1: "%s: Day 1 after your session. Drink plenty of water today; rest sore spots. How is your pain, 0-10, or WORSE? Reply STOP to opt out",
		2: "%s: Day 2. Ice any swelling 15 min at a time; gentle heat for tight muscles. How is your pain, 0-10, or WORSE? Reply STOP to opt out",
		3: "%s: Day 3. Gentle stretches, slow and pain-free, 20-30s each. How is your pain, 0-10, or WORSE? Reply STOP to opt out",
	},
	"es": {
		1: "%s: Dia 1 tras su masaje. Beba mucha agua hoy y descanse la zona. ¿Dolor de 0 a 10, o PEOR? Responda. STOP para no recibir mas",
		2: "%s: Dia 2. Hielo 15 min si hay hinchazon; calor suave si hay tension. ¿Dolor de 0 a 10, o PEOR? Responda. STOP para no recibir mas",
		3: "%s: Dia 3. Estiramientos suaves, lentos y sin dolor, 20-30 s cada uno. ¿Dolor de 0 a 10, o PEOR? Responda. STOP para no recibir mas",
	},
}

// DefaultLanguage is used when neither the client's nor the clinic's locale
// has texts.
const DefaultLanguage = "en"

// Languages lists the languages with built-in texts.
func Languages() []string { return []string{"en", "es"} }

// Supported reports whether a locale's language has built-in texts.
func Supported(locale string) bool {
	_, ok := texts[aftercare.Language(locale)]
	return ok
}

// Steps is how many steps have texts.
const Steps = 3

// Render returns the text for a follow-up step. locales are tried in order
// (the client's, then the clinic's); the first with texts wins.
func Render(step aftercare.Step, clinicName string, locales ...string) (string, error) {
	lang := DefaultLanguage
	for _, l := range locales {
		if Supported(l) {
			lang = aftercare.Language(l)
			break
		}
	}
	tmpl, ok := texts[lang][step]
	if !ok {
		return "", fmt.Errorf("no aftercare text for step %d", step)
	}
	return fmt.Sprintf(tmpl, clinicName), nil
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
