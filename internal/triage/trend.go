package triage

import (
	"fmt"
	"regexp"
	"strings"
)

// Two scores in one reply give a trend: "was a 3 yesterday, now 7",
// "ayer 4, hoy 8", "5 -> 9". The later one is the current score, and the
// rise (or fall) between them is read as the client's own comparison.

// scoreMention is a number a reply gives as a pain score.
var scoreMention = regexp.MustCompile(`\b(\d{1,2}(?:[.,]5)?|` + numberWordAlt + `)\b(\s*(?:/|out of|outta|de|sobre)\s*(?:10|ten|diez)\b)?`)

// Before a number, these make it not a score: "day 3", "x2", "semana 2".
var notScoreBefore = map[string]bool{
	"day": true, "dia": true, "week": true, "semana": true, "session": true, "sesion": true, "step": true, "number": true,
	"no": true, "room": true, "x": true, "took": true, "take": true, "tome": true, "tomé": true, "last": true, "every": true,
	"cada": true, "for": true, "hace": true, "after": true, "despues": true, "in": true, "around": false,
}

// Words that place the first score earlier and the last one now.
var (
	earlierMarkers = newConcept("was", "were", "yesterday", "started", "start", "morning", "last night", "before", "from",
		"earlier", "first", "initially", "began", "ayer", "estaba", "estuvo", "era", "antes", "anoche", "manana", "empezo",
		"empece", "primero", "went from", "paso de", "subio de", "bajo de", "pase", "paso", "de un", "de una")
	laterMarkers = newConcept("now", "today", "tonight", "this evening", "up to", "to", "then", "currently", "hoy", "ahora",
		"esta noche", "luego", "despues", "hasta", "ya", "y ahora")
	// Words for a number that is a count, not a score: "2 days", "3 pills".
	countNouns = func() map[string]bool {
		m := map[string]bool{"times": true, "veces": true, "people": true, "kids": true, "hijos": true, "nights": true, "noches": true,
			"months": true, "meses": true, "years": true, "anos": true, "sessions": true, "sesiones": true, "massages": true,
			"masajes": true, "doses": true, "dosis": true, "glasses": true, "vasos": true, "liters": true, "litros": true,
			"litres": true, "km": true, "miles": true, "steps": true, "pasos": true, "ice": true, "hielo": true}
		for w := range units {
			m[w] = true
		}
		for w := range medicine.words {
			m[w] = true
		}
		return m
	}()
)

type trend struct {
	from, to int
	text     string
}

// scoreTrend returns the first and last score of a reply that gives two
// or more, when the reply places them in time (or joins them with an
// arrow), or nil.
func scoreTrend(norm string) *trend {
	var scores []int
	var spans [][2]int
	for _, loc := range scoreMention.FindAllStringSubmatchIndex(norm, -1) {
		num := norm[loc[2]:loc[3]]
		outOfTen := loc[4] >= 0
		after := strings.Fields(norm[loc[1]:min(len(norm), loc[1]+24)])
		before := strings.Fields(norm[max(0, loc[0]-16):loc[0]])
		if !outOfTen {
			if len(after) > 0 && countNouns[strings.Trim(after[0], ".,!?;:")] {
				continue
			}
			if len(before) > 0 && notScoreBefore[strings.Trim(before[len(before)-1], ".,!?;:#")] {
				continue
			}
			// A number word is a score only where a score would be said:
			// "a three", "at five", "es un seis".
			if _, word := numberWords[num]; word && (len(before) == 0 || !scoreLead[before[len(before)-1]]) {
				continue
			}
			// A clock time: "at 6:30", "by 8pm".
			if loc[1] < len(norm) && norm[loc[1]] == ':' {
				continue
			}
		}
		v, ok := scoreValue(num)
		if !ok || v < 0 || v > 10 {
			continue
		}
		scores = append(scores, v)
		spans = append(spans, [2]int{loc[0], loc[1]})
	}
	if len(scores) < 2 {
		return nil
	}
	first, last := spans[0], spans[len(spans)-1]
	between := norm[first[1]:last[0]]
	words := wordPattern.FindAllString(norm, -1)
	arrow := strings.Contains(between, "->") || strings.Contains(between, "→") || strings.Contains(between, "=>") ||
		strings.Contains(between, ">") || strings.Contains(between, "⬆") || strings.Contains(between, "↑")
	later := wordPattern.FindAllString(norm[first[1]:], -1)
	timed := earlierMarkers.find(words) >= 0 && (laterMarkers.find(later) >= 0 || joinWords.find(wordPattern.FindAllString(between, -1)) >= 0)
	if !arrow && !timed {
		return nil
	}
	t := &trend{from: scores[0], to: scores[len(scores)-1], text: strings.TrimSpace(norm[first[0]:last[1]])}
	// "8 now, was 4": the first said is the current one.
	if nowWords.find(nextTo(norm, first)) >= 0 && pastWords.find(nextTo(norm, last)) >= 0 {
		t.from, t.to = t.to, t.from
	}
	return t
}

// nextTo returns the word just before and just after span, within its
// part of the sentence (a comma ends it).
func nextTo(norm string, span [2]int) []string {
	var out []string
	if before := wordPattern.FindAllString(norm[max(0, span[0]-16):span[0]], -1); len(before) > 0 && before[len(before)-1] != "," {
		out = append(out, before[len(before)-1])
	}
	if after := wordPattern.FindAllString(norm[span[1]:min(len(norm), span[1]+16)], -1); len(after) > 0 && after[0] != "," {
		out = append(out, after[0])
	}
	return out
}

var (
	joinWords = newConcept("to", "a", "into", "hasta", "then", "luego")
	nowWords  = newConcept("now", "today", "ahora", "hoy", "currently", "tonight")
	pastWords = newConcept("was", "were", "yesterday", "ayer", "before", "antes", "estaba", "era", "earlier")
)

// scoreAlone is the one number a reply gives when the client has a
// previous score: "6 now smh", "ahora 6 q pasa", "it's a 5 this morning".
// With a score asked for and one given before, a lone 0-10 number is one.
func scoreAlone(norm string) *scoreFound {
	var found *scoreFound
	for _, loc := range scoreMention.FindAllStringSubmatchIndex(norm, -1) {
		num := norm[loc[2]:loc[3]]
		if _, word := numberWords[num]; word {
			continue
		}
		after := strings.Fields(norm[loc[1]:min(len(norm), loc[1]+24)])
		before := strings.Fields(norm[max(0, loc[0]-16):loc[0]])
		if len(after) > 0 && countNouns[strings.Trim(after[0], ".,!?;:")] || len(before) > 0 && notScoreBefore[strings.Trim(before[len(before)-1], ".,!?;:#")] {
			continue
		}
		if loc[1] < len(norm) && norm[loc[1]] == ':' {
			continue
		}
		v, ok := scoreValue(num)
		if !ok || v > 10 {
			continue
		}
		if found != nil {
			return nil // two numbers and no order said: not a score
		}
		found = &scoreFound{value: v, text: strings.TrimSpace(norm[loc[0]:loc[1]])}
	}
	return found
}

// numbersIn counts the words of norm that are numbers, in digits or words.
func numbersIn(norm string) int {
	n := 0
	for _, w := range wordPattern.FindAllString(norm, -1) {
		if _, ok := numberWords[w]; ok || w[0] >= '0' && w[0] <= '9' {
			n++
		}
	}
	return n
}

// Words before a spelled-out number that make it a score.
var scoreLead = map[string]bool{"a": true, "an": true, "un": true, "una": true, "at": true, "en": true, "is": true, "was": true,
	"es": true, "era": true, "now": true, "ahora": true, "hoy": true, "today": true, "to": true, "de": true, "around": true,
	"about": true, "like": true, "como": true}

func (t *trend) reason(class Class) string {
	verb := "rose"
	if class == Improving {
		verb = "fell"
	}
	return fmt.Sprintf("%s: pain %s from %d to %d out of 10 in the reply itself (%q)", class, verb, t.from, t.to, t.text)
}
