package triage

import "strings"

// FlagSelfHarm marks a reply that says the client may harm themselves or
// not want to live. It is escalated as urgent and answered following
// safe-messaging guidance (a calm, caring answer that gives a crisis line
// and the emergency number, and says nothing else): see the Samaritans'
// and the 988 Lifeline's guidance for non-clinical services
// (samaritans.org, "Responding to someone in distress"; 988lifeline.org,
// "Safe messaging best practices"), and NICE guideline NG225 (2022), self-
// harm: any statement of intent is taken seriously, whatever its wording.
const FlagSelfHarm = "self_harm"

// selfHarmPhrases, after normalizing (lower case, no accents, no
// apostrophes), state a wish to die or to harm oneself, in English and
// Spanish, with the common shorthand.
var selfHarmPhrases = phrases(
	"kill myself", "killing myself", "end my life", "ending my life", "end it all", "take my own life", "take my life",
	"want to die", "wanna die", "wish i was dead", "wish i were dead", "better off dead", "better off without me",
	"dont want to live", "do not want to live", "dont want to be alive", "dont want to be here anymore",
	"no reason to live", "not worth living", "cant go on", "cannot go on", "hurt myself", "harm myself", "cut myself",
	"hurting myself", "harming myself", "cutting myself",
	"suicide", "suicidal", "self harm", "selfharm", "unalive",
	"quiero morir", "quiero morirme", "me quiero morir", "no quiero vivir", "no quiero seguir viviendo",
	"quitarme la vida", "suicidarme", "suicidio", "suicida", "matarme", "me voy a matar", "acabar con todo",
	"acabar con mi vida", "hacerme dano", "lastimarme", "cortarme", "mejor sin mi", "mejor muerto", "mejor muerta",
	"no vale la pena vivir", "ya no quiero estar aqui", "no quiero estar aqui",
)

// selfHarmNegations, just before a phrase, deny it: "I'm not suicidal".
var selfHarmNegations = set("not", "no", "never", "nunca", "nada", "dont", "wont", "isnt")

// selfHarm returns the phrase that states a wish to die or to self-harm,
// or "" when there is none (or it is denied just before it).
func selfHarm(norm string) string {
	words := wordPattern.FindAllString(norm, -1)
	for i := range words {
		for _, p := range selfHarmPhrases {
			if !hasPhraseAt(words, i, p) {
				continue
			}
			// "not suicidal", "no estoy suicida"; "no quiero vivir" is
			// itself a phrase: a denial is one of the two words before.
			if denied(words, i) && !strings.HasPrefix(strings.Join(p, " "), "no ") {
				continue
			}
			return strings.Join(p, " ")
		}
	}
	return ""
}

func denied(words []string, i int) bool {
	for j := max(i-2, 0); j < i; j++ {
		if selfHarmNegations[words[j]] {
			return true
		}
	}
	return false
}
