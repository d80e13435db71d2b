package triage_test

import (
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

// Red flags by clinical category, in wording written for the rule.
func TestRedFlagCategories(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"broke out in hives from the oil and my lips are puffing up, swollen", // anaphylaxis
		"me salieron ronchas y me cuesta respirar",
		"my tongue feels swollen and thick",
		"my wife says one side of my face is drooping", // stroke
		"my words are slurred and my arm feels weak",
		"arrastro las palabras desde hace un rato",
		"right calf is puffy and warm, left one is fine", // clot, no pain word
		"la pantorrilla esta hinchada y caliente",
		"coughed up blood this morning", // clot in the lung
		"me duele el pecho al respirar",
		"suddenly short of breath climbing the stairs",
	} {
		if d := triage.Classify(text, nil); d.Class != triage.RedFlag {
			t.Errorf("%q: %s (%s), want red_flag", text, d.Class, d.Reason)
		}
	}
	for _, text := range []string{
		"no swelling, no rash, all good", "legs feel heavy and tight after the deep tissue, as you said",
		"slept well, face relaxed", "ni hinchazon ni fiebre, todo bien",
	} {
		if d := triage.Classify(text, nil); d.Class == triage.RedFlag {
			t.Errorf("%q: red flag (%s)", text, d.Reason)
		}
	}
}

func TestMoreRedFlagCategories(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"weird numb feeling in my groin since the back massage", // cauda equina
		"cant pee properly since yesterday and my back is killing me",
		"both legs feel weak when i stand",
		"siento entumecidas las nalgas", "no controlo la vejiga desde ayer",
		"I keep tripping over my foot, cant lift my toes", // foot drop
		"se me arrastra el pie derecho",
		"running a fever and the spot on my back is red and hot", // infection with fever
		"tengo fiebre y la zona esta roja y caliente",
		"I passed out in the shower this morning", // fainting
		"casi me desmayo al levantarme",
	} {
		if d := triage.Classify(text, nil); d.Class != triage.RedFlag {
			t.Errorf("%q: %s (%s), want red_flag", text, d.Class, d.Reason)
		}
	}
	for _, text := range []string{
		"no fever, the red marks from the cupping are fading", "didnt faint or anything, just tired",
		"glutes sore but fine", "ni fiebre ni nada, todo bien",
	} {
		if d := triage.Classify(text, nil); d.Class == triage.RedFlag {
			t.Errorf("%q: red flag (%s)", text, d.Reason)
		}
	}
}
