package triage_test

import (
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

// A statement of not wanting to live or of self-harm is a red flag flagged
// self_harm, whatever else the reply says; a denial of one is not.
func TestSelfHarmIsAnUrgentRedFlag(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"honestly i dont want to be here anymore", "Pain is 3 but I want to die", "sometimes i think theyd be better off without me",
		"I've been thinking about ending my life", "feel like hurting myself tonight", "im suicidal",
		"ya no quiero vivir", "me quiero morir, todo duele", "pienso en quitarme la vida", "a veces quiero hacerme daño",
	} {
		d := triage.Classify(text, nil)
		if d.Class != triage.RedFlag || d.Flag != triage.FlagSelfHarm || !d.Escalate {
			t.Errorf("%q: %+v, want an escalated red flag flagged self_harm", text, d)
		}
	}
	for _, text := range []string{
		"I'm not suicidal, just sore", "don't want to die of boredom waiting for the physio lol", "much better thanks",
		"killer headache but fine", "no estoy suicida, solo cansada",
	} {
		if d := triage.Classify(text, nil); d.Flag == triage.FlagSelfHarm {
			t.Errorf("%q: flagged self_harm: %+v", text, d)
		}
	}
}
