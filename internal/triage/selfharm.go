package triage

import (
	"slices"
	"strings"
)

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
var selfHarmPhrases = newConcept(
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
	"ending it", "end it", "end things", "ending things", "not be here", "not wake up", "go to sleep and not wake up",
	"dejar de existir", "no despertar", "terminar con todo", "acabar con esto", "want it all to end", "want it to end",
	"want everything to end", "wont be around much longer", "not be around much longer", "not going to be around",
	"dont see the point of anything", "whats the point of living", "whats the point of getting better", "point of any of this",
	"no le veo sentido a nada", "cansada de todo", "cansado de todo", "harta de todo", "harto de todo", "no quiero seguir",
	"might as well be dead", "rather be dead", "id rather be dead", "be better dead", "overdose", "overdosing", "od on",
	"started cutting", "cutting again", "cut again", "done with life", "done with living", "want it all to stop",
	"want everything to stop", "jumping off", "jump off", "jump in front", "step in front of", "hang myself", "end myself",
	"sobredosis", "tirarme", "aventarme", "colgarme", "cortarme otra vez", "no aguanto mas vivir",
)

// Not wanting to exist, said with a "want" and a "be": "dont really want
// to be alive", "just want to disappear", "no quiero despertar manana".
var (
	wantWord = newConcept("want", "wanna", "wish", "quiero", "quisiera", "deseo", "ganas")
	toExist  = newConcept("be alive", "be here", "exist", "existing", "live", "living", "go on", "wake up", "keep going",
		"seguir", "vivir", "despertar", "existir", "estar aqui", "estar viva", "estar vivo")
	toVanish   = newConcept("disappear", "vanish", "not exist", "die", "be gone", "desaparecer", "morir", "morirme", "no existir")
	wantDenial = newConcept("not", "dont", "no", "never", "nunca", "ni")
)

// Not being there, and nobody minding: "no one would notice if I was gone",
// "nadie me extranaria". Indirect statements, read as seriously as direct
// ones (NICE NG225).
var (
	selfAbsent = newConcept("if i was gone", "if i were gone", "if i wasnt here", "if i was not here", "if i disappeared",
		"if i died", "without me", "if i wasnt around", "when im gone", "si me muero", "si yo no estuviera", "si desapareciera",
		"sin mi", "si me fuera")
	nobodyCares = newConcept("no one", "nobody", "noone", "no body", "nadie", "everyone", "todos")
	wouldMind   = newConcept("notice", "care", "miss", "noticed", "cared", "better", "extranaria", "notaria", "importaria",
		"mejor", "se daria cuenta")
)

// selfHarmNegations, just before a phrase, deny it: "I'm not suicidal".
var selfHarmNegations = set("not", "never", "nunca", "nada", "dont", "wont", "isnt")

// selfHarm returns the phrase that states a wish to die or to self-harm,
// or "" when there is none (or it is denied just before it).
func selfHarm(norm string) string {
	words := wordPattern.FindAllString(norm, -1)
	for i := range words {
		end, ok := selfHarmPhrases.at(words, i)
		// "not suicidal", "no estoy suicida"; "no quiero vivir" is itself
		// a phrase: a denial is one of the two words before.
		if !ok || denied(words, i) && words[i] != "no" {
			continue
		}
		return strings.Join(words[i:end], " ")
	}
	if i := wantWord.find(words); i >= 0 {
		ahead := words[i+1 : min(i+6, len(words))]
		denied := wantDenial.find(words[max(i-3, 0):i]) >= 0
		// "want to disappear"; "dont want to be alive". "dont want to die" is
		// not a wish to die, and "want to be here" is not one either.
		if !denied && toVanish.find(ahead) >= 0 || denied && toExist.find(ahead) >= 0 && !slices.Contains(ahead, "without") {
			return strings.Join(words[max(i-3, 0):min(i+6, len(words))], " ")
		}
	}
	if i := selfAbsent.find(words); i >= 0 && nobodyCares.find(words) >= 0 && wouldMind.find(words) >= 0 {
		return strings.Join(words[max(i-6, 0):min(i+5, len(words))], " ")
	}
	return ""
}

// spanishVerbs stand between "no" and what it denies: "no estoy suicida".
var spanishVerbs = set("estoy", "soy", "es", "me", "voy", "pienso", "quiero", "tengo")

func denied(words []string, i int) bool {
	// "no" denies only right before ("no suicida"); "no, I want to die"
	// and "no i want to die" answer the text.
	if i > 0 && words[i-1] == "no" || i > 1 && words[i-2] == "no" && spanishVerbs[words[i-1]] {
		return true
	}
	for j := max(i-2, 0); j < i; j++ {
		if selfHarmNegations[words[j]] {
			return true
		}
	}
	return false
}
