package triage

import (
	"slices"
	"strings"
)

// Since the FCC's 2024 consent-revocation rule (47 CFR 64.1200(a)(10)), a
// request to stop texts "by any reasonable means" must be honoured, not only
// the carrier keywords. StopIntent reads a reply for that request: either a
// stop word with nothing else but courtesy ("Stop pls", "ALTO", "baja por
// favor"), or a request about our messages ("please don't text me anymore",
// "take me off this list", "ya no me manden mensajes"). A stop word about
// anything else ("the pain won't stop", "no puedo parar de toser") is not
// one, and neither is a request to keep texting ("don't stop the texts").
func StopIntent(body string) bool {
	words := wordPattern.FindAllString(strings.ReplaceAll(normalize(body), "opt out", "optout"), -1)
	if len(words) == 0 || len(words) > 40 {
		return false // a long message is a story, not a request; triage reads it
	}
	content := 0
	stopWord := false
	for _, w := range words {
		switch {
		case stopWords[w]:
			stopWord = true
		case !courtesy[w] && w != ",":
			content++
		}
	}
	if stopWord && content == 0 {
		return true
	}
	if keepTexting(words) {
		return false
	}
	for i := range words {
		if end, ok := stopPhrases.at(words, i); ok && mentionsOurTexts(words[i:min(end+textsReach, len(words))]) {
			return true
		}
	}
	return false
}

// textsReach is how many words after a stop phrase may name our texts:
// "take me off this list", "no need to keep messaging me". Further away,
// the two are about different things ("the pain is no more, thanks for
// the messages").
const textsReach = 4

// stopWords stop the texts when a reply is nothing but one of them and
// courtesy: the carrier keywords, and their usual Spanish.
var stopWords = set("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
	"alto", "parar", "para", "baja", "cancelar", "detener", "basta", "unsub")

// courtesy is what may surround a stop word without making it about
// something else.
var courtesy = set("please", "pls", "plz", "plez", "thanks", "thank", "you", "thx", "ty", "now", "ok", "okay",
	"por", "favor", "porfa", "porfavor", "gracias", "ya", "me", "it", "all", "asap", "texts", "messages", "mensajes",
	"sms", "thankyou", "just", "kindly", "x", "xx")

// ourTexts are words for the texts themselves, or for being on the list.
var ourTexts = set("text", "texts", "texting", "txt", "txts", "txting", "message", "messages", "messaging", "msg", "msgs", "send", "sending",
	"sms", "list", "number", "reminders", "notifications", "contact", "contacting", "reply", "replies", "these",
	"mensaje", "mensajes", "textos", "texto", "escribirme", "escriban", "escribir", "enviar", "envien", "enviarme",
	"manden", "mandar", "mandarme", "mandes", "lista", "numero", "recordatorios", "notificaciones", "contactarme",
	"avisos", "whatsapp", "follow", "followups", "followup", "recibir", "recibiendo", "receive", "receiving", "seguimiento",
	"seguimientos", "messages", "get")

func mentionsOurTexts(words []string) bool {
	for _, w := range words {
		if ourTexts[w] {
			return true
		}
	}
	return false
}

// stopPhrases, found anywhere in a reply that mentions our texts, ask for
// them to stop.
var stopPhrases = newConcept(
	"stop", "quit", "unsubscribe", "opt out", "optout", "remove", "take me off", "delete my", "leave me alone",
	"no more", "dont want", "do not want", "dont need", "do not need", "no need", "dont text", "do not text",
	"dont message", "do not message", "dont send", "do not send", "dont contact", "do not contact", "not interested",
	"cancel", "enough", "rather not", "prefer not", "no longer want", "id rather not", "would rather not",
	"no quiero", "ya no", "no me", "dejen de", "deja de", "dejar de", "basta", "quitenme", "quitarme", "quitame",
	"borrenme", "borrarme", "borren", "eliminen", "eliminar", "darme de baja", "dar de baja", "de baja", "baja",
	"no manden", "no envien", "no mas", "alto", "parar", "paren", "cancelar",
)

// keepTexting is a reply asking for the texts to go on.
func keepTexting(words []string) bool {
	for i := range words {
		// "no need to keep texting me" asks the opposite.
		if _, ok := keepPhrases.at(words, i); ok && !slices.ContainsFunc(words[max(i-3, 0):i], func(w string) bool { return w == "need" || w == "no" || w == "dont" }) {
			return true
		}
	}
	return false
}

var keepPhrases = newConcept("dont stop", "do not stop", "dont cancel", "keep texting", "keep sending", "keep them coming",
	"no dejen de", "no paren", "sigan mandando", "sigan enviando", "no cancelen")
