package triage_test

import (
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

// Requests to stop the texts in plain words, English and Spanish, and the
// Spanish keywords, are read as opt-outs; stop words about something else,
// and requests to keep texting, are not. (Written for the rule; the
// held-out files measure it on wording it was not written for.)
func TestStopIntent(t *testing.T) {
	t.Parallel()
	stops := []string{
		"STOP", "stop please", "Stop!! thanks", "unsubscribe me pls", "ALTO", "Parar", "baja", "cancelar por favor",
		"please stop texting me", "stop sending me these reminders", "I don't want any more messages",
		"no more texts thanks", "take me off your list", "remove my number please", "do not contact me again by text",
		"I'm all better, no need to keep messaging me", "quit txting me",
		"ya no me manden mensajes", "dejen de escribirme por favor", "no quiero recibir más mensajes",
		"bórrenme de su lista", "quiero darme de baja de los mensajes", "no me envíen más textos",
	}
	for _, s := range stops {
		if !triage.StopIntent(s) {
			t.Errorf("%q: not read as a request to stop", s)
		}
	}
	notStops := []string{
		"the pain won't stop", "can't stop shaking since the massage", "no puedo parar de toser",
		"please don't stop the texts, they help", "no dejen de mandar los mensajes, me ayudan",
		"the pain is no more, thanks for the messages", "no me duele, gracias por los mensajes",
		"stop the pain please", "pain is 6, it doesn't end", "better, thanks", "",
		"end of the week was hard but ok now",
	}
	for _, s := range notStops {
		if triage.StopIntent(s) {
			t.Errorf("%q: read as a request to stop", s)
		}
	}
}
