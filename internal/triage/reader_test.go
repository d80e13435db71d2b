package triage_test

import (
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

// The reader combines concepts, so wording on no list still reads: each
// case here is in words that appear in no rule and no labelled file.
func TestReaderCombinesConcepts(t *testing.T) {
	t.Parallel()
	four := 4
	cases := []struct {
		text     string
		previous *int
		want     triage.Class
	}{
		// Two scores placed in time give a trend, whichever comes first.
		{"was 2 this morning, it's at 6 now", nil, triage.Worsening},
		{"8 now, was 5 yesterday", nil, triage.Worsening},
		{"went from a 6 to a 2 today", nil, triage.Improving},
		{"anoche un 3 y ahora un 7", nil, triage.Worsening},
		// A lone number, when the client gave one before.
		{"6 tonight ugh", &four, triage.Worsening},
		// A multiple with a time to compare with.
		{"pain's tripled since the session", nil, triage.Worsening},
		// Any medicine, any words for not helping.
		{"the aleve did nothing at all", nil, triage.Worsening},
		// FAST signs as a part and what is wrong with it.
		{"her mouth looks lopsided and she keeps slurring", nil, triage.RedFlag},
		{"my grip has gone, I keep dropping my cup", nil, triage.RedFlag},
		// Airway swelling and a reaction spreading.
		{"my lips puffed up after the cream", nil, triage.RedFlag},
		{"red itchy bumps all over and spreading to my chest", nil, triage.RedFlag},
		// Foot drop and the bladder, by parts and trouble.
		{"my foot keeps dragging when I walk", nil, triage.RedFlag},
		{"can't feel when I need the toilet", nil, triage.RedFlag},
		// Indirect self-harm.
		{"no one would miss me if I was gone", nil, triage.RedFlag},
		{"honestly I just want to disappear", nil, triage.RedFlag},
		// Fears that did not come true, and mild calf soreness.
		{"was dreading today, figured it'd be agony, but nope, fine", nil, triage.Improving},
		{"calf a bit sore but that's the massage", nil, triage.Same},
		// Something odd or new is read by a person.
		{"my hip feels weird today", nil, triage.NeedsReview},
		{"back's better but there's a new pain in my wrist", nil, triage.NeedsReview},
	}
	for _, c := range cases {
		if d := triage.Classify(c.text, c.previous); d.Class != c.want {
			t.Errorf("%q: %s (%s), want %s", c.text, d.Class, d.Reason, c.want)
		}
	}
}

// An outside reviewer's wordings that were read as fine (nobody told):
// "gone" as a change, not an end; a "no" that answers the text; "never
// felt so"; a denial that stops at a body part; self-harm said plainly.
func TestOutsiderReviewWordings(t *testing.T) {
	t.Parallel()
	cases := map[string]triage.Class{
		"The fever still hasnt gone":                                       triage.RedFlag,
		"the numbness has gone down into my foot now":                      triage.RedFlag,
		"its gone red and hot and theres pus coming out":                   triage.Worsening,
		"No, my smile has gone lopsided and my words are coming out funny": triage.RedFlag,
		"no its worse":                                triage.Worsening,
		"nope getting worse":                          triage.Worsening,
		"Ive never felt so dizzy in my life":          triage.RedFlag,
		"No fever, leg numb":                          triage.RedFlag,
		"No, tengo fiebre":                            triage.RedFlag,
		"no i want to die":                            triage.RedFlag,
		"might as well be dead":                       triage.RedFlag,
		"I've started cutting again":                  triage.RedFlag,
		"my husband drove me to A&E":                  triage.RedFlag,
		"I wet the bed last night":                    triage.RedFlag,
		"the pain is through the roof":                triage.Worsening,
		"Pain 8 today, I was told to expect 3 by now": triage.Worsening,
		// and what must stay benign
		"the tingling has gone":          triage.Improving,
		"no está peor":                   triage.Same,
		"no estoy suicida, solo cansada": triage.Other,
	}
	for text, want := range cases {
		d := triage.Classify(text, nil)
		if d.Class != want && !(want == triage.Other && !d.Escalate) {
			t.Errorf("%q: %s (%s), want %s", text, d.Class, d.Reason, want)
		}
	}
}
