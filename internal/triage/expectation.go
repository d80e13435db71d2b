package triage

import (
	"fmt"
	"slices"
	"strings"
)

// Expectation and outcome: "thought it'd be worse today but it's fine",
// "braced myself for a bad day but it never came", "tenia miedo de que
// empeorara y no". What a client feared or expected is not what happened;
// a complaint inside an expectation counts only when nothing else in the
// reply says how it turned out.

// expectWords open an expectation: a fear, a guess, a plan.
var expectWords = newConcept("thought", "think it would", "expected", "expecting", "feared", "fearing", "worried", "worrying",
	"scared", "afraid", "convinced", "sure i", "braced", "bracing", "assumed", "figured", "anticipated", "was sure", "prepared for", "ready for",
	"pense", "pensaba", "crei", "creia", "esperaba", "temia", "miedo", "me preocupaba", "preocupada", "preocupado",
	"me imagine", "me imaginaba", "supuse", "suponia")

// asExpected labels what came before as expected: "bit bruised but expected".
var asExpected = newConcept("expected", "as expected", "to be expected", "normal", "esperado", "esperable", "es normal",
	"lo normal", "como esperaba", "which is normal", "thats normal", "normal i guess", "normal supongo")

// outcomeWords say how things turned out, against an expectation.
var outcomeWords = newConcept("never", "didnt", "not", "no", "nope", "fine", "ok", "nada", "nunca", "bien", "tranquilo", "nothing",
	"wasnt", "hasnt", "havent", "ni", "para nada", "just", "only", "que va", "era", "fue", "solo", "normal", "great", "perfecta",
	"perfecto", "same", "good", "better", "mejor", "genial")

// A part of a clause after one of these may say how things turned out:
// "was scared it'd flare up, it didn't", "pense que me saldria y no salio".
var outcomeJoins = set(",", "and", "y", "but", "pero", "then", "luego")

// expectationClauses marks each clause that states an expectation.
func expectationClauses(clauses []clause) []bool {
	out := make([]bool, len(clauses))
	for i, c := range clauses {
		out[i] = !c.question && expectWords.find(c.words) >= 0
	}
	return out
}

// outcomeAfter reports a clause after clause i, not itself an expectation,
// that says how things turned out without a complaint of its own.
func (f *findings) outcomeAfter(i int) bool {
	// Within the clause: a part after a join ("..., it didn't") that
	// says how it turned out, with no complaint of its own. Each part is
	// read once, so a long clause costs in proportion to its length.
	if w := f.clauses[i].words; true {
		if e := expectWords.find(w); e >= 0 {
			start := -1
			for j := e + 1; j <= len(w); j++ {
				if j < len(w) && !outcomeJoins[w[j]] {
					continue
				}
				if start >= 0 && j > start {
					part := w[start:j]
					if outcomeWords.find(part) >= 0 && !complaintIn(part) {
						return true
					}
				}
				start = j + 1
			}
		}
	}
	for j := i + 1; j < len(f.clauses); j++ {
		if f.expect[j] {
			continue
		}
		complains := false
		for _, s := range f.signals {
			if s.part/1000 == j && (s.class == Worsening || s.class == RedFlag) {
				complains = true
			}
		}
		if !complains && outcomeWords.find(f.clauses[j].words) >= 0 {
			return true
		}
	}
	return false
}

// Something that feels wrong, without a word for what: "me siento rara",
// "feeling off since yesterday", "it's just different".
var oddFeeling = newConcept("feel off", "feeling off", "feels off", "felt off", "weird", "strange", "odd", "raro", "rara",
	"extrano", "extrana", "rarisimo", "rarisima", "different", "diferente", "funny feeling", "not right", "no se siente bien",
	"me siento mal", "not myself", "off since", "kinda off", "bit off", "full", "heavy", "pesada", "pesado", "cold", "frio", "fria",
	"frios", "frias", "clicky", "clicking", "burny", "late", "palpita")

// A new symptom, or one in a new place: "a bit better but there's a new
// pain in my knee", "sore in a different place now".
var newSymptom = newConcept("new pain", "new ache", "a new", "different place", "different spot", "somewhere else",
	"now my", "but now", "otro lado", "otra zona", "nuevo dolor", "dolor nuevo", "ahora me duele", "otro dolor", "new spot",
	"another spot", "now its my", "ahora el", "ahora la", "me aparecio", "appeared", "showed up", "bultito", "bulto", "lump")

// newOrOdd names a clause that reports something odd or new about the
// body, not denied, in a reply no red flag or worsening rule has read.
func (f *findings) newOrOdd() string {
	for i, c := range f.clauses {
		if f.discounted(i) {
			continue
		}
		if at := oddFeeling.find(c.words); at >= 0 && !deniedBefore(c.words, at) && !slices.Contains(c.words[max(at-2, 0):at], "not") {
			reason := fmt.Sprintf("says something feels %q", c.words[at])
			if concern := concernIn([]clause{c}); concern != "" {
				reason += "; " + concern
			}
			return reason
		}
		if at := newSymptom.find(c.words); at >= 0 && (painConcept.find(c.words) >= 0 || bodyPart.find(c.words) >= 0 || concernIn([]clause{c}) != "") {
			return fmt.Sprintf("reports something new (%q)", strings.Join(c.words[at:min(at+4, len(c.words))], " "))
		}
	}
	return ""
}

// complaintIn reports a worsening or red-flag phrase in words.
func complaintIn(words []string) bool {
	for _, group := range [][]rule{redFlags, worsening} {
		for _, r := range group {
			if len(matches(r, words)) > 0 {
				return true
			}
		}
	}
	return false
}

// discounted reports a clause that states a fear the reply says did not
// come true.
// It is worked out once per clause: a long reply of many clauses would
// otherwise read the rest of the reply again for every finding.
func (f *findings) discounted(i int) bool {
	if i >= len(f.expect) || !f.expect[i] {
		return false
	}
	if f.discount == nil {
		f.discount = map[int]bool{}
	}
	d, ok := f.discount[i]
	if !ok {
		d = f.outcomeAfter(i)
		f.discount[i] = d
	}
	return d
}

// labelledExpected reports a statement (not a question) that calls what
// the reply describes expected or normal: "bit bruised but expected".
func (f *findings) labelledExpected() bool {
	for _, c := range f.clauses {
		if !c.question && asExpected.find(c.words) >= 0 && !deniedBefore(c.words, asExpected.find(c.words)) {
			return true
		}
	}
	return false
}
