package booking

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// None of the booking systems has a field of its own for consent to texts
// (a phone for text reminders is consent to reminders, not to aftercare
// texts). A clinic that collects consent adds a question to its booking
// form ("I agree to aftercare texts from Harbour Massage"), and the
// adapters of the systems whose webhooks carry the form's answers (Cal.com,
// Calendly, Acuity) map a yes to it as the session's consent: when the
// client booked, through the booking form, the question as the wording.
// Square's and Mindbody's webhooks carry no form answers.

// consentQuestion reports whether a booking form's question asks for
// agreement to texts: it speaks of consent or agreeing, and of texts.
func consentQuestion(question string) bool {
	q := strings.ToLower(strings.NewReplacer("_", " ", "-", " ").Replace(question))
	asks := strings.Contains(q, "consent") || strings.Contains(q, "agree") || strings.Contains(q, "opt in")
	texts := strings.Contains(q, "text") || strings.Contains(q, "sms") || strings.Contains(q, "message")
	return asks && texts
}

// affirmative reports whether a form's answer says yes: a ticked box, or a
// yes in words.
func affirmative(answer any) bool {
	switch a := answer.(type) {
	case bool:
		return a
	case string:
		switch strings.ToLower(strings.Trim(strings.TrimSpace(a), ".!")) {
		case "yes", "y", "true", "on", "checked", "1", "i agree", "agree", "i consent", "si", "sí":
			return true
		}
	}
	return false
}

// formConsent is the consent a booking form's answer gives, or nil: the
// question asks for agreement to texts and the answer is yes. at is when
// the client booked; no time, no consent (its when is the evidence).
func formConsent(system, question string, answer any, at time.Time) *aftercare.Consent {
	if at.IsZero() || !consentQuestion(question) || !affirmative(answer) {
		return nil
	}
	// The question is the booking system's text: control characters would
	// make the whole event invalid, so they go, not the booking.
	wording := strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069' {
			return ' '
		}
		return r
	}, question))
	for len(wording) > aftercare.MaxConsentWording || !utf8.ValidString(wording) {
		wording = strings.ToValidUTF8(wording[:min(len(wording), aftercare.MaxConsentWording)], "")
	}
	return &aftercare.Consent{At: at.UTC(), Channel: "booking_form", Wording: wording, Source: system}
}
