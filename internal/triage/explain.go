package triage

import "strings"

// Explanation says why a reply was or was not escalated: the concepts
// found in each clause, the phrase rules that matched, and the rule that
// decided (the decision's reason), so a clinician can check the reading.
type Explanation struct {
	Decision
	Concepts []Found  `json:"concepts"`
	Phrases  []string `json:"phrases,omitempty"` // phrase rules that matched, with their class
	// Clauses are the parts the reply was read in, with "expectation"
	// marking a fear or guess (discounted when the reply says it did not
	// come true).
	Clauses    []string `json:"clauses"`
	StopIntent bool     `json:"stop_intent"`
}

// Found is one concept found in a clause.
type Found struct {
	Concept string `json:"concept"`
	Word    string `json:"word"`
	Clause  int    `json:"clause"`
}

// Explain classifies a reply and says why.
func Explain(text string, previous *int) Explanation {
	d, f := classify(text, previous)
	e := Explanation{Decision: d, StopIntent: StopIntent(text), Concepts: []Found{}}
	for i, c := range f.clauses {
		label := strings.Join(c.words, " ")
		if f.expect[i] {
			label += " [expectation" + map[bool]string{true: ", did not come true]", false: "]"}[f.discounted(i)]
		}
		e.Clauses = append(e.Clauses, label)
		for _, n := range namedConcepts {
			if at := n.c.find(c.words); at >= 0 {
				e.Concepts = append(e.Concepts, Found{Concept: n.name, Word: c.words[at], Clause: i})
			}
		}
	}
	for _, s := range f.signals {
		e.Phrases = append(e.Phrases, string(s.class)+": "+s.reason)
	}
	return e
}

// namedConcepts are the concepts Explain reports, by name.
var namedConcepts = []struct {
	name string
	c    *concept
}{
	{"body_part", &bodyPart}, {"pain", &painConcept}, {"medicine", &medicine}, {"not_helping", &notHelping},
	{"emergency_care", &emergencyCare}, {"care_action", &careAction}, {"denial", &deniers}, {"multiple", &multiplier},
	{"still", &stillConcept}, {"not_easing", &notEasing}, {"tear_or_pop", &tornOrPop}, {"injury", &injuryItself},
	{"skin_reaction", &skinReaction}, {"face_or_airway", &airwayPart}, {"swollen", &swollen}, {"spreading", &spreading},
	{"swallowing", &swallowing}, {"breathing", &breathing}, {"face", &facePart}, {"droop", &droop},
	{"speech", &speechPart}, {"speech_wrong", &speechWrong}, {"arm", &armPart}, {"arm_wrong", &armWrong},
	{"confusion", &confusion}, {"lower_leg", &lowerLeg}, {"leg_sign", &legSign}, {"lung_sign", &lungSign},
	{"saddle_area", &saddleArea}, {"numb", &numbWord}, {"bladder_or_bowel", &bladderPart}, {"bladder_trouble", &bladderWrong},
	{"both_legs", &bothLegs}, {"legs_weak", &legsWeak}, {"foot", &footPart}, {"foot_wrong", &footWrong},
	{"fever", &feverWord}, {"infected_area", &infectedArea}, {"fainted", &fainted}, {"expectation", &expectWords},
	{"outcome", &outcomeWords}, {"as_expected", &asExpected}, {"earlier", &earlierMarkers}, {"later", &laterMarkers},
}
