package triage_test

import (
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

// Rules over concepts: each case is worded for the rule, not taken from a
// held-out file.
func TestConceptRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text string
		want triage.Class
	}{
		{"took two advil and it's not doing anything for my shoulder", triage.Worsening},
		{"el naproxeno no me hace efecto, sigue igual la espalda", triage.Worsening},
		{"paracetamol barely touches it", triage.Worsening},
		{"heard a pop in my knee when I stood up", triage.Worsening},
		{"siento que algo se rompio en el hombro", triage.Worsening},
		{"my back is twice as bad as yesterday", triage.Worsening},
		{"me duele el doble que ayer", triage.Worsening},
		{"still sore after 10 days", triage.Worsening},
		{"sigue el dolor desde hace dos semanas", triage.Worsening},
		{"ended up in A&E last night with my neck", triage.RedFlag},
		{"estuve en urgencias anoche por la pierna", triage.RedFlag},
		{"called 999 because of my chest", triage.RedFlag},
	}
	for _, c := range cases {
		if d := triage.Classify(c.text, nil); d.Class != c.want {
			t.Errorf("%q: %s (%s), want %s", c.text, d.Class, d.Reason, c.want)
		}
	}
	// The same concepts, denied or benign, raise nothing.
	for _, text := range []string{
		"ibuprofen is helping a lot, much better", "popped in to say thanks, feeling good",
		"didnt need to go to the ER, all fine now", "no tuve que ir a urgencias, ya estoy bien",
		"back to normal after 2 days", "might go to urgent care tomorrow for a check, pain is mild",
	} {
		if d := triage.Classify(text, nil); d.Class.Escalates() {
			t.Errorf("%q: %s (%s), want no escalation", text, d.Class, d.Reason)
		}
	}
}
