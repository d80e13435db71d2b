package triage

// Expectation and outcome: "thought it'd be worse today but it's fine",
// "braced myself for a bad day but it never came", "tenia miedo de que
// empeorara y no". What a client feared or expected is not what happened;
// a complaint inside an expectation counts only when nothing else in the
// reply says how it turned out.

// expectWords open an expectation: a fear, a guess, a plan.
var expectWords = newConcept("thought", "think it would", "expected", "expecting", "feared", "fearing", "worried", "worrying",
	"scared", "afraid", "braced", "bracing", "assumed", "figured", "anticipated", "was sure", "prepared for", "ready for",
	"pense", "pensaba", "crei", "creia", "esperaba", "temia", "miedo", "me preocupaba", "preocupada", "preocupado",
	"me imagine", "me imaginaba", "supuse", "suponia")

// asExpected labels what came before as expected: "bit bruised but expected".
var asExpected = newConcept("expected", "as expected", "to be expected", "normal", "esperado", "esperable", "es normal",
	"lo normal", "como esperaba", "which is normal", "thats normal", "normal i guess", "normal supongo")

// outcomeWords say how things turned out, against an expectation.
var outcomeWords = newConcept("never", "didnt", "not", "no", "nope", "fine", "ok", "nada", "nunca", "bien", "tranquilo", "nothing",
	"wasnt", "hasnt", "havent", "ni", "para nada")

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
