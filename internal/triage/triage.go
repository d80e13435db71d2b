// Package triage reads a client's SMS reply and decides what it says: a red
// flag, worsening pain, one that needs a person to read it, a question for
// the clinic, improving, the same, or something else, always with the
// reason. Every rule is in this file.
//
// It is tuned for recall on red flags and worsening: a missed client who is
// getting worse is far worse than a call the clinic did not need to make, so
// when in doubt a reply counts as worsening. A reply that talks about the
// body, a symptom, medicine or care and that no rule reads with confidence
// needs review: a person at the clinic reads it. Only a reply with none of
// those is "other".
package triage

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Class is what a reply says.
type Class string

const (
	RedFlag   Class = "red_flag"  // a symptom that needs a clinician now
	Worsening Class = "worsening" // pain getting worse, or a high score
	// NeedsReview: about the body, a symptom, medicine or care, and not read
	// with confidence; a person at the clinic should read it.
	NeedsReview Class = "needs_review"
	Question    Class = "question"  // a question for the clinic
	Improving   Class = "improving" // getting better
	Same        Class = "same"      // about the same, or sore as expected
	Other       Class = "other"     // thanks, ok, anything else
)

// Classes lists every class, most urgent first.
func Classes() []Class {
	return []Class{RedFlag, Worsening, NeedsReview, Question, Improving, Same, Other}
}

// Escalates reports whether a reply of this class is raised to the clinic.
func (c Class) Escalates() bool { return c == RedFlag || c == Worsening }

// OfConcern reports whether a reply of this class needs someone at the
// clinic: a stop request saying something of concern is triaged, not only
// opted out.
func OfConcern(c Class) bool { return c != Other && c != Improving && c != Same }

// Decision is the outcome of triage.
type Decision struct {
	Class  Class  `json:"class"`
	Reason string `json:"reason"`
	// Escalate says the clinic must hear of this reply now.
	Escalate bool `json:"escalate"`
	// Score is the pain score (0-10) the reply gave, if any.
	Score *int `json:"pain_score,omitempty"`
	// PreviousScore is the client's last score, given by the caller.
	PreviousScore *int `json:"previous_score,omitempty"`
	// Flag names a red flag that changes what the client is told, such as
	// FlagSelfHarm.
	Flag string `json:"flag,omitempty"`
}

// Thresholds for pain scores: a score this high counts as worsening or as a
// red flag, and so does a rise of this much since the last score.
const (
	WorseningScore = 7
	SevereScore    = 9
	WorseningRise  = 2
)

// MaxLength bounds the text looked at; an SMS reply is rarely past 1,600
// characters (10 segments), and triage must stay linear and quick.
const MaxLength = 2000

// Classify decides what a reply says. previous is the client's last pain
// score, or nil when there is none.
func Classify(text string, previous *int) Decision {
	d, _ := classify(text, previous)
	return d
}

// label is the class as a reason starts with it: "red flag: ...".
func (c Class) label() string { return strings.ReplaceAll(string(c), "_", " ") }

func classify(text string, previous *int) (Decision, *findings) {
	if len(text) > MaxLength {
		text = text[:MaxLength]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	norm := normalize(text)
	clauses := splitClauses(norm)
	f := findings{clauses: clauses, expect: expectationClauses(clauses)}
	for i, c := range clauses {
		f.scan(c, i, clauses)
	}
	// Scores need a number: most replies have none, and the score
	// patterns are the costliest part of reading one.
	if numbers := numbersIn(norm); numbers > 0 {
		f.score = painScore(norm)
		// "Pain 8 today, I was told to expect 3 by now": a score someone
		// expected is not one the client had, so no trend is read.
		if numbers > 1 && expectWords.find(wordPattern.FindAllString(norm, -1)) < 0 && !strings.Contains(norm, "expect") &&
			!strings.Contains(norm, "supposed to") && !strings.Contains(norm, "should be") {
			f.trend = scoreTrend(norm)
		}
		if f.trend != nil {
			f.score = &scoreFound{value: f.trend.to, text: f.trend.text}
		}
		if f.score == nil && previous != nil {
			f.score = scoreAlone(norm)
		}
	}
	d := f.decide(previous)
	d = applyConcepts(norm, clauses, d, f.discounted)
	d = applyRedFlags(clauses, d, f.discounted)
	if phrase := selfHarm(norm); phrase != "" {
		// Before any other reading: whatever else the reply says.
		d.Class, d.Reason, d.Flag = RedFlag, "says they may harm themselves or not want to live: "+phrase, FlagSelfHarm
	}
	d.PreviousScore = previous
	d.Escalate = d.Class.Escalates()
	return d, &f
}

// ---- normalizing ---------------------------------------------------------

var accents = strings.NewReplacer(
	"á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ü", "u", "ñ", "n",
	"à", "a", "è", "e", "ì", "i", "ò", "o", "ù", "u",
	"’", "'", "‘", "'", "´", "'", "`", "'",
)

// Emoji clients use about pain, mapped to words the rules know.
var emojiWords = map[rune]string{
	'😭': "emojibad", '😫': "emojibad", '😩': "emojibad", '😖': "emojibad", '😣': "emojibad",
	'🤕': "emojibad", '😢': "emojibad", '😰': "emojibad", '😧': "emojibad", '😟': "emojibad",
	'🙁': "emojibad", '☹': "emojibad", '😞': "emojibad", '😬': "emojibad", '😵': "dizzy", '🥴': "dizzy",
	'🤒': "fever", '🥵': "fever", '🥶': "chills", '🆘': "emojibad", '🚑': "emojibad", '💔': "emojibad",
	'😀': "emojigood", '😃': "emojigood", '😄': "emojigood", '😁': "emojigood", '😊': "emojigood",
	'🙂': "emojigood", '👍': "emojigood", '💪': "emojigood", '😌': "emojigood", '🥰': "emojigood",
	'👌': "emojigood", '🙌': "emojigood", '✅': "emojigood", '😎': "emojigood", '🤩': "emojigood",
	'😐': "emojisame", '😑': "emojisame", '🤷': "emojisame",
	'❓': "?", '❔': "?",
}

// normalize lowercases, strips accents and apostrophes, and turns emoji
// into words, so "Can’t WALK 😭" reads "cant walk emojibad".
func normalize(text string) string {
	text = accents.Replace(strings.ToLower(text))
	var b strings.Builder
	for _, r := range text {
		if w, ok := emojiWords[r]; ok {
			b.WriteString(" " + w + " ")
			continue
		}
		if r == '\'' {
			continue // can't -> cant
		}
		b.WriteRune(r)
	}
	return b.String()
}

// clause is a run of words between sentence breaks or contrast words.
type clause struct {
	words    []string
	question bool // ended with "?"
	contrast bool // began with "but", "pero" ...
}

var (
	wordPattern = regexp.MustCompile(`[a-z0-9]+|,`)
	contrasts   = map[string]bool{"but": true, "though": true, "although": true, "however": true, "pero": true, "aunque": true, "sino": true, "tho": true, "altho": true}
)

func splitClauses(norm string) []clause {
	var out []clause
	start := 0
	flush := func(end int, question bool) {
		words := wordPattern.FindAllString(norm[start:end], -1)
		start = end + 1
		cur := clause{question: question}
		for _, w := range words {
			w = canonical(w)
			if contrasts[w] && len(cur.words) > 0 {
				out = append(out, cur)
				cur = clause{contrast: true}
				continue
			}
			cur.words = append(cur.words, strings.Fields(w)...)
		}
		if len(cur.words) > 0 || question {
			out = append(out, cur)
		}
	}
	for i := 0; i < len(norm); i++ {
		switch norm[i] {
		case '.', '!', ';', '\n', '?':
			flush(i, norm[i] == '?')
		}
	}
	flush(len(norm), false)
	return out
}

// canonical fixes the shorthand and typos seen in replies, and spells
// contractions one way.
func canonical(w string) string {
	if c, ok := shorthand[w]; ok {
		return c
	}
	if len(w) >= 6 {
		for _, v := range fuzzyVocabulary {
			if closeEnough(w, v) {
				return v
			}
		}
	}
	return w
}

var shorthand = map[string]string{
	// worse
	"wrse": "worse", "wors": "worse", "wrose": "worse", "worsr": "worse", "woerse": "worse", "worce": "worse",
	"wosre": "worse", "owrse": "worse", "wurse": "worse", "werse": "worse", "worsee": "worse", "worser": "worse",
	"worsening": "worsening", "wrsening": "worsening", "worsning": "worsening",
	// better
	"bettr": "better", "beter": "better", "btr": "better", "bttr": "better", "betta": "better", "bettah": "better",
	"bettet": "better", "bettrr": "better", "bertter": "better",
	// negation and modals
	"cant": "cant", "cannot": "cant", "couldnt": "cant", "cnt": "cant", "carnt": "cant", "cn't": "cant",
	"isnt": "not", "aint": "not", "wasnt": "not", "dont": "not", "doesnt": "not", "didnt": "not", "arent": "not",
	"havent": "not", "hasnt": "not", "nt": "not", "n0t": "not", "nope": "no", "nah": "no", "nothin": "nothing",
	"wont": "not",
	// shorthand
	"v": "very", "rly": "really", "rlly": "really", "realy": "really", "sooo": "so", "soooo": "so", "abit": "a bit",
	"lil": "little", "gud": "good", "gd": "good", "gr8": "great", "k": "ok", "kk": "ok", "okey": "ok", "okay": "ok",
	"thx": "thanks", "ty": "thanks", "tx": "thanks", "pls": "please", "plz": "please", "u": "you", "ur": "your",
	"im": "im", "i'm": "im", "idk": "not sure", "tmrw": "tomorrow", "tmr": "tomorrow", "yday": "yesterday",
	"yest": "yesterday", "yesterdy": "yesterday", "2day": "today", "tdy": "today", "2nite": "tonight",
	"sm": "so much", "m": "me", "q": "que", "xq": "porque", "pq": "porque", "tb": "tambien", "tmb": "tambien", "soo": "so", "hurtn": "hurting", "hrts": "hurts", "hurtss": "hurts",
	"lol": "", "lmao": "", "x": "", "xx": "", "xxx": "",
	"hurst": "hurts", "hurtz": "hurts", "hurtin": "hurting", "hurtng": "hurting", "paine": "pain", "pian": "pain",
	"numbb": "numb", "numm": "numb", "nunb": "numb", "numbe": "numb", "numbnes": "numbness",
	"feaver": "fever", "fevr": "fever", "fver": "fever", "fevar": "fever",
	"tingly": "tingling", "tinglin": "tingling", "tinglng": "tingling", "tingle": "tingling", "tingles": "tingling", "tingled": "tingling",
	"swolen": "swollen", "swolled": "swollen", "sweling": "swelling", "swellin": "swelling",
	"breath": "breath", "breathe": "breathe", "breth": "breath", "brethe": "breathe", "breate": "breathe",
	"blurry": "blurry", "blury": "blurry", "blurr": "blurry",
	"sorer": "more sore", "achier": "more sore",
	"peorr": "peor", "peior": "peor", "mejorr": "mejor",
}

// Longer words are also matched with one slip of the thumb.
var fuzzyVocabulary = []string{
	"numbness", "tingling", "swelling", "swollen", "shooting", "blurred", "breathing", "breathless",
	"excruciating", "unbearable", "worsening", "improving", "improved", "throbbing", "stabbing",
	"hormigueo", "entumecido", "entumecida", "adormecido", "adormecida", "hinchazon", "hinchado", "hinchada",
	"mejorando", "empeorando", "insoportable", "punzante", "escalofrios", "respirar",
	"feverish", "temperature", "dizziness", "weakness", "tightness",
}

// closeEnough reports a Damerau-Levenshtein distance of at most one.
func closeEnough(a, b string) bool {
	if a == b {
		return true
	}
	la, lb := len(a), len(b)
	if la-lb > 1 || lb-la > 1 {
		return false
	}
	i := 0
	for i < la && i < lb && a[i] == b[i] {
		i++
	}
	switch {
	case la == lb:
		if a[i+1:] == b[i+1:] {
			return true // one substitution
		}
		return i+1 < la && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:] // transposition
	case la > lb:
		return a[i+1:] == b[i:]
	default:
		return a[i:] == b[i+1:]
	}
}

// ---- rules ---------------------------------------------------------------

// A rule's phrases are word sequences over normalized words. "a|b" takes
// either word; "_" takes up to two words of any kind ("cant _ walk" also
// reads "cant really walk").
type rule struct {
	class   Class
	reason  string
	phrases []string
	// symptom rules share negation across a list: "no numbness, tingling
	// or fever" denies all three.
	symptom bool
	// negated is the class a denied match gives: "not worse" is the same,
	// "not good" is worsening. Empty: a denial counts for nothing.
	negated Class
	// resolvable matches lose their force when followed by "gone",
	// "stopped" ...: "the tingling has gone".
	resolvable bool

	compiled [][][]string // phrase, word, alternatives; see compile
	// byFirst lists, for each word a phrase can start with, the phrases
	// (indexes into compiled) that do: matching looks only at those.
	byFirst map[string][]int
}

// compile splits a rule's phrases once, so matching allocates nothing.
func (r rule) compile() rule {
	r.compiled, r.byFirst = nil, map[string][]int{}
	for i, p := range r.phrases {
		var words [][]string
		for _, w := range strings.Fields(p) {
			words = append(words, strings.Split(w, "|"))
		}
		r.compiled = append(r.compiled, words)
		for _, first := range words[0] {
			r.byFirst[first] = append(r.byFirst[first], i)
		}
	}
	return r
}

func compileAll(rules []rule) []rule {
	for i := range rules {
		rules[i] = rules[i].compile()
	}
	return rules
}

func init() {
	compileAll(redFlags)
	compileAll(worsening)
	compileAll(improving)
	compileAll(same)
	swelling, redOrHot, calf = swelling.compile(), redOrHot.compile(), calf.compile()
	questionRule = questionRule.compile()
}

var limbs = "leg|legs|foot|feet|toes|arm|arms|hand|hands|fingers|face|side|back|thigh|calf|shoulder|neck|pierna|piernas|pie|pies|brazo|brazos|mano|manos|dedos|cara|espalda"

var redFlags = []rule{
	{class: RedFlag, reason: "numbness", symptom: true, resolvable: true, phrases: []string{
		"numb", "numbness", "numbed", "no feeling", "lost _ feeling", "cant feel my|the|anything|" + limbs, "dead leg|arm", "going|gone|goes|feels dead", "like jelly", "nearly fell", "almost fell",
		"entumecido", "entumecida", "entumecimiento", "adormecido", "adormecida", "adormecimiento", "adormecimientos",
		"no siento _ " + limbs, limbs + " dormida|dormido|dormidas|dormidos", "se me duerme|durmio|duermen", "insensible",
	}},
	{class: RedFlag, reason: "tingling or pins and needles", symptom: true, resolvable: true, phrases: []string{
		"tingling", "pins and needles", "pins needles", "hormigueo", "hormigueos", "cosquilleo", "electric shock", "electric shocks", "electricity", "calambres", "descargas",
	}},
	{class: RedFlag, reason: "cannot walk or move", phrases: []string{
		"cant _ walk|move|stand|straighten|bend|lift|turn|sit", "cant _ get up|out", "unable to walk|move|stand|lift|turn", "barely _ walk|move|stand",
		"hardly _ walk|move|stand", "cant bear weight", "cant put _ weight", "cant bear _ weight", "gave way", "giving way", "gives way", "collapsed", "fell over",
		"no puedo _ caminar|andar|moverme|mover|levantarme|pararme|agacharme|girar", "no me puedo _ mover|levantar|parar", "casi no puedo",
		"stuck in bed", "bedbound", "locked up",
	}},
	{class: RedFlag, reason: "severe, sharp or shooting pain", symptom: true, resolvable: true, phrases: []string{
		"severe", "excruciating", "unbearable", "agony", "agonizing", "agonising", "shooting", "sharp", "stabbing",
		"worst pain", "worst ever", "screaming", "crying in pain", "in tears", "insoportable", "punzante", "agudo", "aguda",
		"dolor intenso", "dolor muy fuerte", "muchisimo dolor", "fatal dolor", "lightning", "radiating", "shoots down", "goes down my leg|arm",
	}},
	{class: RedFlag, reason: "fever or chills", symptom: true, resolvable: true, phrases: []string{
		"fever", "feverish", "temperature", "temp", "chills", "shivering", "shivers", "hot and cold", "fiebre", "calentura",
		"escalofrios", "febril", "sweats", "night sweats",
	}},
	{class: RedFlag, reason: "chest pain", symptom: true, phrases: []string{
		"chest", "pecho", "heart racing", "palpitations",
	}},
	{class: RedFlag, reason: "shortness of breath", symptom: true, phrases: []string{
		"short of breath", "shortness of breath", "breathless", "breathlessness", "cant _ breathe|breath", "hard to breathe", "struggling to breathe",
		"difficulty breathing", "trouble breathing", "out of breath", "breathing is hard|difficult", "wheezing", "falta de aire",
		"falta el aire", "no puedo respirar", "cuesta respirar", "ahogo", "me ahogo", "sin aliento", "dificultad para respirar",
	}},
	{class: RedFlag, reason: "blurred vision", symptom: true, phrases: []string{
		"blurred", "blurry", "double vision", "seeing double", "cant see", "vision", "vision borrosa", "borroso", "borrosa", "veo doble",
	}},
	{class: RedFlag, reason: "dizziness or fainting", symptom: true, resolvable: true, phrases: []string{
		"dizzy", "dizziness", "fainted", "feel|felt|feeling|very|bit faint", "passed out", "blacked out", "lightheaded", "light headed", "vomiting", "vomited", "throwing up",
		"mareo", "mareos", "mareado", "mareada", "desmaye", "desmayo", "vomito", "vomitando",
	}},
	{class: RedFlag, reason: "weakness in a limb", symptom: true, phrases: []string{
		"weak", "weakness", "no strength", "cant grip", "debil", "debilidad", "sin fuerza", "no tengo fuerza", "se me dobla", "se me doblan",
	}},
	{class: RedFlag, reason: "bladder or bowel trouble", symptom: true, phrases: []string{
		"bladder", "bowel", "incontinence", "wet myself", "cant pee", "cant wee", "orinar", "vejiga",
	}},
	{class: RedFlag, reason: "bruising or bleeding", symptom: true, resolvable: true, phrases: []string{
		"bleeding", "blood", "sangre", "sangrando",
	}},
}

// Swelling alone is worth a call; swelling with redness or heat, or in the
// calf, can be an infection or a clot and is a red flag.
var (
	swelling = rule{class: Worsening, reason: "swelling", symptom: true, resolvable: true, phrases: []string{
		"swelling", "swollen", "swelled", "puffy", "hinchazon", "hinchado", "hinchada", "inflamado", "inflamada", "inflamacion", "lump", "inflamed", "inflammation",
	}}
	redOrHot = rule{class: RedFlag, reason: "redness or heat", symptom: true, resolvable: true, phrases: []string{
		"red", "redness", "reddish", "hot", "warm to _ touch", "feels|is|its|very|quite warm", "heat in|from|coming", "burning",
		"rojo", "roja", "rojiza", "enrojecido", "enrojecida", "caliente",
	}}
	calf = rule{class: RedFlag, reason: "calf pain or swelling", symptom: true, phrases: []string{"calf", "calves", "pantorrilla", "gemelo"}}
)

var worsening = []rule{
	{class: Worsening, reason: "says worse", negated: Same, phrases: []string{
		"worse", "worsening", "worst", "getting bad", "more pain", "more painful", "more sore", "hurts more", "hurting more", "aches more", "hurting|hurts|aching|sore loads|lots|way more",
		"increased", "increasing", "escalating", "peor", "empeorado", "empeorando", "empeora", "empeoro", "mas dolor", "duele mas", "mas fuerte",
		"mas adolorido", "mas adolorida", "hurting|hurts|aching|sore _ more",
		"ramped up", "crept up", "creeping up", "gone up", "went up", "going up", "picked up", "flared", "flare up", "flaring",
		"spiked", "shot up", "escalated", "hurts like hell", "like hell", "through the roof", "off the charts", "off the scale", "climbing", "still climbing", "getting worse", "empeorando", "amped up", "se disparo", "subio", "aumento", "ha subido", "va en aumento",
	}},
	{class: Worsening, reason: "describes bad pain", negated: Same, resolvable: true, phrases: []string{
		"terrible", "awful", "horrible", "horrendous", "dreadful", "really bad", "very bad", "so bad", "pretty bad", "quite bad", "bad",
		"killing me", "killing", "a lot of pain", "lots of pain", "in pain", "so much pain", "very painful", "really painful", "throbbing",
		"spasm", "spasms", "cramping", "cramp", "bruised", "bruise", "bruises", "bruising", "agony", "emojibad", "help", "not ok", "not good", "not great",
		"not well", "muy mal", "fatal", "mal", "horrible", "duele mucho", "mucho dolor", "ayuda", "moreton", "morado",
	}},
	{class: Worsening, reason: "pain keeps them from sleep or daily life", phrases: []string{
		"cant sleep", "couldnt sleep", "kept me up", "keeping me up", "woke me", "up all night", "no sleep", "cant work", "off work",
		"painkillers|pain killers|tablets|ibuprofen|paracetamol not _ touching|working|helping", "nothing helps", "nothing is helping", "nothing works", "no puedo _ dormir", "no dormi", "no pude _ dormir",
	}},
}

var improving = []rule{
	{class: Improving, reason: "says better", negated: Same, phrases: []string{
		"better", "improving", "improved", "improvement", "easing", "eased", "easier", "less pain", "less sore", "less tight", "less stiff",
		"no pain", "pain free", "painfree", "no more pain", "all gone", "gone now", "gone away", "pain gone", "pains gone",
		"pain is gone", "pain has gone", "its gone now", "its all gone", "soreness gone", "soreness has gone", "ache gone", "ache has gone", "went away", "loads better", "relief", "relieved", "looser", "recovered",
		"not as bad", "not so bad", "not too bad", "mejor", "mejorando", "mejorado", "mejoro", "menos dolor", "sin dolor", "ya no duele",
		"no duele", "no me duele", "emojigood", "feel great", "feel good", "feeling great", "feeling good", "amazing", "fantastic", "wonderful",
		"great", "good", "fine", "perfect", "excellent", "loose", "relaxed", "genial", "perfecto", "estupendo", "excelente", "bien",
		"doing well", "feel well", "feeling well", "im well", "im ok", "feel ok", "feeling ok", "doing ok", "its ok", "all ok", "all good", "much ok", "pretty ok", "ok now",
	}},
}

var same = []rule{
	{class: Same, reason: "about the same", phrases: []string{
		"same", "no change", "unchanged", "sore", "stiff", "tender", "achy", "aching", "ache", "tight", "hurts", "hurt",
		"pain", "painful", "igual", "lo mismo", "sin cambios", "adolorido", "adolorida", "duele", "dolor", "emojisame", "meh", "so so",
	}},
	// "Still" or "similar" alone says nothing has changed, but not what:
	// "my knee still feels odd" is read by a person, "still" alone is the same.
	{class: Same, reason: weakSame, phrases: []string{"still", "similar"}},
}

const weakSame = "no change said, nothing named"

// Words that deny what follows: "not worse", "no numbness".
var negators = map[string]bool{
	"not": true, "no": true, "never": true, "without": true, "nothing": true, "none": true, "nor": true, "zero": true,
	"sin": true, "ni": true, "nada": true, "tampoco": true, "nunca": true,
}

// Words that may stand between a denial and what it denies.
var fillers = map[string]bool{
	"any": true, "a": true, "an": true, "the": true, "more": true, "much": true, "really": true, "very": true, "so": true, "too": true,
	"as": true, "at": true, "all": true, "getting": true, "feeling": true, "feel": true, "felt": true, "got": true, "get": true, "it": true,
	"its": true, "is": true, "been": true, "longer": true, "signs": true, "sign": true, "of": true, "real": true, "even": true, "bit": true,
	"little": true, "that": true, "there": true, "theres": true, "have": true, "has": true, "had": true, "hay": true, "tengo": true, "me": true,
	"siento": true, "es": true, "esta": true, "estoy": true, "ya": true, "mas": true, "anymore": true, "issues": true, "problems": true,
	"problem": true, "any more": true, "ha": true, "he": true, "han": true, "habia": true, "been any": true, "i": true, "from": true, "some": true, "further": true, "new": true, "actually": true, "definitely": true,
}

var listWords = map[string]bool{",": true, "or": true, "and": true, "nor": true, "o": true, "y": true, "ni": true, "no": true}

// Words after a symptom that say it has passed.
var resolutions = map[string]bool{
	"gone": true, "stopped": true, "went": true, "passed": true, "disappeared": true, "cleared": true,
	"desaparecio": true, "paso": true, "quito": true,
}

// answerNo: a "no" that answers the text ("No, it's worse", "nope getting
// worse", "no its worse") rather than denying what follows.
func answerNo(words []string, i int) bool {
	if words[i] != "no" || i+1 >= len(words) {
		return false
	}
	return words[i+1] == "," || answerStarts[words[i+1]]
}

var answerStarts = map[string]bool{"its": true, "it": true, "im": true, "i": true, "getting": true, "thats": true, "my": true,
	"the": true, "still": true, "actually": true, "honestly": true, "feeling": true, "now": true}

// In Spanish "no" before a verb denies it ("no está peor", "no tengo
// mareos"): only "No, ..." with a comma is an answer there.

// neverSo: "never felt so dizzy", "never been in this much pain" say more,
// not less.
func neverSo(words []string, i int) bool {
	if words[i] != "never" && words[i] != "nunca" {
		return false
	}
	rest := strings.Join(words[i+1:min(i+4, len(words))], " ")
	for _, p := range []string{"felt so", "felt this", "been so", "been this", "been in this", "had such", "had this", "felt such", "me habia", "habia sentido"} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// resolvedAt reports a resolution word at words[i] that says a symptom has
// passed: not "hasn't gone", "not stopped", and not "gone down into my
// foot", "gone red", "gone lopsided", where "gone" is a change, not an end.
func resolvedAt(words []string, i int) bool {
	if !resolutions[words[i]] {
		return false
	}
	for j := max(i-2, 0); j < i; j++ {
		if negators[words[j]] || words[j] == "still" {
			return false
		}
	}
	if i+1 < len(words) && !resolutionEnds[words[i+1]] {
		return false
	}
	return true
}

// Words after "gone", "stopped" ... that keep it an end: "gone now",
// "stopped completely", "gone away".
var resolutionEnds = map[string]bool{
	",": true, "now": true, "away": true, "completely": true, "totally": true, "entirely": true, "already": true, "today": true,
	"overnight": true, "thanks": true, "thank": true, "y": true, "and": true, "but": true, "pero": true, "ya": true, "por": true,
	"after": true, "since": true, "by": true, "emojigood": true, "gracias": true, "del": true, "todo": true,
}

// Words that place a complaint in the past: "was worse yesterday".
var pastMarkers = map[string]bool{
	"was": true, "were": true, "yesterday": true, "last": true, "earlier": true, "initially": true, "first": true, "had": true,
	"ayer": true, "anoche": true, "antes": true, "estaba": true, "estuvo": true, "fue": true, "tenia": true, "before": true,
	"monday": true, "tuesday": true, "wednesday": true, "thursday": true, "friday": true, "saturday": true, "sunday": true,
}

var questionStarts = map[string]bool{
	"can": true, "could": true, "who": true, "whos": true, "should": true, "is": true, "are": true, "do": true, "does": true, "what": true, "when": true,
	"how": true, "why": true, "would": true, "may": true, "which": true, "where": true, "shall": true,
	"puedo": true, "debo": true, "deberia": true, "que": true, "cuando": true, "como": true, "por": true, "es": true, "cual": true, "donde": true,
}

var questionRule = rule{class: Question, reason: "asks the clinic", phrases: []string{
	"wondering", "wonder", "want to book", "book", "booking", "appointment", "call me", "call back", "ring me", "please call",
	"question", "advice", "recommend", "cita", "llamar", "llamen", "llamenme", "pregunta", "reservar", "consulta",
}}

// ---- scanning ------------------------------------------------------------

type signal struct {
	class  Class
	reason string
	part   int  // which clause, and which part of it between commas
	past   bool // its part of the clause places it in the past
	// expected: said inside an expectation ("thought it'd be worse").
	expected bool
}

type findings struct {
	clauses  []clause
	signals  []signal
	question string
	score    *scoreFound
	trend    *trend       // two scores said in time order
	expect   []bool       // per clause: states an expectation
	discount map[int]bool // per expectation clause: did not come true (see discounted)
}

// add records a signal found at m. Its part of the clause, between commas,
// says whether it is placed in the past: "was worse yesterday, better now".
func (f *findings) add(class Class, reason string, c clause, idx int, m match) {
	start, part := m.start, 0
	for start > 0 && c.words[start-1] != "," {
		start--
	}
	for _, w := range c.words[:start] {
		if w == "," {
			part++
		}
	}
	past := false
	for _, w := range c.words[start:] {
		if w == "," {
			break
		}
		past = past || pastMarkers[w]
	}
	expected := idx < len(f.expect) && f.expect[idx]
	f.signals = append(f.signals, signal{class: class, reason: reason, part: idx*1000 + part, past: past, expected: expected})
}

func (f *findings) scan(c clause, idx int, all []clause) {
	for _, r := range redFlags {
		f.apply(r, c, idx, all)
	}
	// Swelling: a red flag with redness or heat, or in the calf.
	sw := matches(swelling, c.words)
	if len(sw) > 0 && !f.denied(swelling, c, sw[0], all, idx) {
		if hot := matches(redOrHot, c.words); len(hot) > 0 && !f.denied(redOrHot, c, hot[0], all, idx) {
			f.add(RedFlag, fmt.Sprintf("swelling with redness or heat (%q, %q)", sw[0].text, hot[0].text), c, idx, sw[0])
		} else {
			f.add(Worsening, fmt.Sprintf("swelling (%q)", sw[0].text), c, idx, sw[0])
		}
	}
	// The calf with swelling or pain said, not denied: "no pain in my calf,
	// no swelling" is not one.
	swollenSaid := len(sw) > 0 && !f.denied(swelling, c, sw[0], all, idx)
	// Mild soreness in a massaged calf ("calf a bit sore") is expected; a
	// clot shows as swelling, or pain more than mild (NICE NG158).
	if cm := matches(calf, c.words); len(cm) > 0 && (swollenSaid || painSaid(c.words) && mildSaid.find(c.words) < 0) {
		f.add(RedFlag, fmt.Sprintf("calf pain or swelling (%q), which can be a clot", cm[0].text), c, idx, cm[0])
	}
	for _, group := range [][]rule{worsening, improving, same} {
		for _, r := range group {
			f.apply(r, c, idx, all)
		}
	}
	if f.question == "" {
		f.question = questionIn(c)
	}
}

// mildSaid qualifies a pain as mild.
var mildSaid = newConcept("a bit", "bit", "a little", "little", "slightly", "slight", "mild", "mildly", "kinda", "kind of",
	"a tad", "un poco", "poquito", "un poquito", "algo", "leve", "ligeramente", "normal")

// painSaid reports a pain word in words with no denial just before it.
func painSaid(words []string) bool {
	for i, w := range words {
		if isPainWord(w) && !(i > 0 && negators[words[i-1]]) && !(i > 1 && negators[words[i-2]]) {
			return true
		}
	}
	return false
}

func isPainWord(w string) bool {
	switch w {
	case "pain", "hurts", "hurt", "hurting", "sore", "ache", "aching", "tender", "dolor", "duele", "cramp", "cramping", "tight":
		return true
	}
	return false
}

func (f *findings) apply(r rule, c clause, idx int, all []clause) {
	for _, m := range matches(r, c.words) {
		if f.denied(r, c, m, all, idx) {
			if r.negated != "" {
				f.add(r.negated, fmt.Sprintf("%s denied (%q)", r.reason, "not "+m.text), c, idx, m)
			} else if r.resolvable && slices.ContainsFunc(c.words[m.end:min(m.end+4, len(c.words))], func(w string) bool { return resolutions[w] }) {
				// "the tingling has gone": it has passed.
				f.add(Improving, fmt.Sprintf("%s has passed (%q)", r.reason, m.text), c, idx, m)
			}
			continue
		}
		f.add(r.class, fmt.Sprintf("%s (%q)", r.reason, m.text), c, idx, m)
		return
	}
}

type match struct {
	start, end int // word positions [start, end)
	text       string
}

// matches finds a rule's phrases in words.
// matches finds a rule's phrases in words, in the order of the rule's
// phrases and then of the words (the first is the one a rule acts on).
func matches(r rule, words []string) []match {
	var out []match
	var phraseOf []int
	for i, w := range words {
		for _, p := range r.byFirst[w] {
			if end, ok := matchAt(r.compiled[p], words, i); ok {
				out = append(out, match{start: i, end: end, text: strings.Join(words[i:end], " ")})
				phraseOf = append(phraseOf, p)
			}
		}
	}
	if len(out) > 1 {
		order := make([]int, len(out))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return phraseOf[a] - phraseOf[b] })
		sorted := make([]match, len(out))
		for i, o := range order {
			sorted[i] = out[o]
		}
		out = sorted
	}
	return out
}

func matchAt(parts [][]string, words []string, i int) (int, bool) {
	if len(parts) == 0 {
		return i, true
	}
	if parts[0][0] == "_" {
		for skip := 0; skip <= 2 && i+skip <= len(words); skip++ {
			if end, ok := matchAt(parts[1:], words, i+skip); ok {
				return end, true
			}
		}
		return 0, false
	}
	if i >= len(words) || !slices.Contains(parts[0], words[i]) {
		return 0, false
	}
	return matchAt(parts[1:], words, i+1)
}

// denied reports whether a match is negated ("no numbness", "not worse")
// or said to have passed ("the tingling has gone").
func (f *findings) denied(r rule, c clause, m match, all []clause, idx int) bool {
	if negators[c.words[m.start]] {
		return false // the phrase carries its own negation: "no feeling", "no pain"
	}
	steps := 0
	for j := m.start - 1; j >= 0 && steps < 8; j-- {
		w := c.words[j]
		steps++
		if negators[w] && !answerNo(c.words, j) && !neverSo(c.words, j) {
			return true
		}
		if fillers[w] || r.symptom && (listWords[w] || symptomWords[w]) {
			continue
		}
		break
	}
	if !r.resolvable {
		return false
	}
	for j := m.end; j < len(c.words) && j < m.end+4; j++ {
		if resolvedAt(c.words, j) {
			return true
		}
	}
	// "Had some tingling yesterday, it's gone now": the next clause says it
	// passed and names nothing else.
	if idx+1 < len(all) {
		next := all[idx+1].words
		resolved, other := false, false
		for k, w := range next {
			switch {
			case resolvedAt(next, k):
				resolved = true
			case symptomWords[w] || isPainWord(w) || w == "worse" || w == "peor":
				other = true
			}
		}
		return resolved && !other
	}
	return false
}

var symptomWords = func() map[string]bool {
	words := map[string]bool{}
	for _, r := range append(slices.Clone(redFlags), swelling, redOrHot, calf) {
		for _, p := range r.phrases {
			for _, part := range strings.Fields(p) {
				for _, w := range strings.Split(part, "|") {
					// Body parts do not carry a denial on: "no fever, leg
					// numb" denies the fever only.
					if !negators[w] && w != "_" && !fillers[w] && w != "cant" && !bodyPart.words[w] && !slices.Contains(strings.Split(limbs, "|"), w) {
						words[w] = true
					}
				}
			}
		}
	}
	return words
}()

func questionIn(c clause) string {
	if c.question {
		return "asks a question (\"?\")"
	}
	if len(c.words) >= 3 && questionStarts[c.words[0]] {
		return fmt.Sprintf("asks a question (%q)", strings.Join(c.words[:3], " "))
	}
	if m := matches(questionRule, c.words); len(m) > 0 {
		return fmt.Sprintf("asks the clinic (%q)", m[0].text)
	}
	return ""
}

// ---- concerns: what makes an unread reply worth a person's time ----------

// concernKinds names the words that make a reply one a person should read
// when no rule reads it with confidence: the body, pain or a symptom,
// medicine, care. English and Spanish, accents stripped, with common slips.
var concernKinds = []struct {
	kind  string
	words []string
}{
	{"mentions the body", []string{
		"neck", "nek", "shoulder", "shoulders", "sholder", "shoudler", "knee", "knees", "kne", "hip", "hips", "leg", "legs", "calf", "calves",
		"thigh", "thighs", "hamstring", "hamstrings", "quad", "quads", "glute", "glutes", "buttock", "bum", "groin", "ankle", "ankles", "ankel",
		"wrist", "wrists", "elbow", "elbows", "finger", "fingers", "toe", "toes", "thumb", "spine", "spinal", "rib", "ribs", "jaw", "muscle",
		"muscles", "tendon", "tendons", "joint", "joints", "lumbar", "sciatica", "sciatic", "forearm", "bicep", "biceps", "tricep", "skin",
		"stomach", "tummy", "belly", "shin", "shins", "heel", "arch", "achilles", "collarbone", "shoulderblade", "tailbone", "coccyx", "pelvis",
		"espalda", "cuello", "hombro", "hombros", "rodilla", "rodillas", "cadera", "caderas", "pierna", "piernas", "brazo", "brazos", "mano",
		"manos", "cabeza", "tobillo", "tobillos", "muneca", "codo", "codos", "dedo", "dedos", "pecho", "pantorrilla", "gemelo", "gemelos",
		"pies", "lumbares", "cintura", "nuca", "columna", "costilla", "costillas", "musculo", "musculos", "gluteo", "gluteos", "muslo",
		"muslos", "talon", "piel", "estomago", "barriga", "mandibula",
	}},
	{"mentions pain or a symptom", []string{
		"pain", "pains", "painful", "ache", "aches", "aching", "achy", "sore", "soreness", "hurt", "hurts", "hurting", "numb", "numbness",
		"tingling", "pins", "swelling", "swollen", "bruise", "bruised", "bruising", "rash", "itch", "itchy", "itching", "fever", "feverish",
		"temperature", "dizzy", "dizziness", "lightheaded", "nausea", "nauseous", "sick", "vomit", "vomiting", "headache", "migraine",
		"burning", "stinging", "throbbing", "cramp", "cramps", "spasm", "spasms", "stiff", "stiffness", "tight", "tightness", "tender",
		"weak", "weakness", "twinge", "twinges", "clicking", "popping", "cracking", "knot", "knots", "lump", "bump", "pulled", "strain",
		"strained", "sprain", "sprained", "injury", "injured", "tweaked", "twisted", "bleeding", "blood", "shaky", "faint", "sweats",
		"duele", "duelen", "dolor", "dolores", "molestia", "molestias", "molesta", "adolorido", "adolorida", "entumecido", "entumecida",
		"hormigueo", "hinchado", "hinchada", "hinchazon", "moreton", "morado", "sarpullido", "picor", "pica", "fiebre", "mareo", "mareado",
		"mareada", "nauseas", "vomito", "jaqueca", "migrana", "ardor", "quemazon", "calambre", "calambres", "contractura", "rigido",
		"rigida", "tension", "debil", "debilidad", "punzada", "punzadas", "bulto", "lesion", "tiron", "sangre", "emojibad", "emojisame",
	}},
	{"mentions medicine", []string{
		"meds", "medicine", "medicines", "medication", "pill", "pills", "tablet", "tablets", "painkiller", "painkillers", "ibuprofen",
		"ibuprophen", "ibuprofin", "ibuprofeno", "paracetamol", "paracetemol", "acetaminophen", "tylenol", "advil", "nurofen", "motrin",
		"aspirin", "aspirina", "naproxen", "aleve", "codeine", "codamol", "tramadol", "diclofenac", "voltaren", "voltarol", "biofreeze",
		"arnica", "antihistamine", "antihistamines", "antibiotic", "antibiotics", "antibioticos", "inhaler", "steroid", "steroids",
		"relaxant", "relaxants", "nolotil", "metamizol", "enantyum", "analgesico", "analgesicos", "antiinflamatorio", "antiinflamatorios",
		"pastilla", "pastillas", "medicamento", "medicamentos", "medicina", "pomada", "dipirona",
	}},
	{"mentions care", []string{
		"doctor", "doctors", "docter", "doc", "dr", "gp", "physio", "physiotherapist", "chiro", "chiropractor", "osteo", "osteopath",
		"hospital", "ambulance", "paramedic", "paramedics", "emergency", "nurse", "pharmacist", "pharmacy", "chemist", "xray", "mri",
		"medico", "medica", "doctora", "urgencias", "ambulancia", "fisio", "fisioterapeuta", "enfermera", "enfermero", "farmacia",
		"farmaceutico", "traumatologo",
	}},
}

// Words that name a body part only after "my", "lower" ...: "my back",
// not "back home"; "my head", not "heads up".
var bodyAfterOwner = map[string]bool{"back": true, "hand": true, "hands": true, "head": true, "arm": true, "arms": true, "foot": true, "feet": true, "chest": true, "pie": true}

var owners = map[string]bool{
	"my": true, "his": true, "her": true, "lower": true, "upper": true, "left": true, "right": true, "both": true, "mid": true, "middle": true,
	"mi": true, "mis": true, "su": true, "sus": true,
}

// Words a denial reaches across to a concern: "no swelling in my knee".
var concernFillers = map[string]bool{
	"in": true, "on": true, "my": true, "mi": true, "around": true, "near": true, "en": true, "el": true, "la": true, "los": true, "las": true,
	"de": true, "del": true, "left": true, "right": true, "both": true, "lower": true, "upper": true,
}

// Near misses of a concern word that are words of their own.
var notConcerns = map[string]bool{"hombre": true, "thumbs": true, "tables": true, "should": true, "docs": true}

var concernWords = func() map[string]string {
	m := map[string]string{}
	for _, k := range concernKinds {
		for _, w := range k.words {
			m[w] = k.kind
		}
	}
	for w := range bodyAfterOwner {
		m[w] = "mentions the body"
	}
	return m
}()

// concernOf says what kind of concern a word is, allowing one slip in
// longer words ("shouldr", "ibuprofn").
func concernOf(w string) (string, string) {
	if notConcerns[w] {
		return "", ""
	}
	if k, ok := concernWords[w]; ok && !bodyAfterOwner[w] {
		return k, w
	}
	if len(w) >= 6 {
		for _, k := range concernKinds {
			for _, v := range k.words {
				if len(v) >= 6 && closeEnough(w, v) {
					return k.kind, v
				}
			}
		}
	}
	return "", ""
}

// concernIn finds the first concern not denied in its clause: "no numbness,
// tingling or fever" names none, "my shoulder feels weird" names one.
func concernIn(clauses []clause) string {
	for _, c := range clauses {
		for i, w := range c.words {
			kind, word := concernOf(w)
			if bodyAfterOwner[w] && i > 0 && owners[c.words[i-1]] {
				kind, word = concernWords[w], w
			}
			if kind == "" || concernDenied(c.words, i) {
				continue
			}
			return fmt.Sprintf("%s (%q)", kind, word)
		}
	}
	return ""
}

func concernDenied(words []string, i int) bool {
	for j := i - 1; j >= 0 && j >= i-8; j-- {
		w := words[j]
		if negators[w] {
			return true
		}
		if kind, _ := concernOf(w); kind != "" || fillers[w] || listWords[w] || concernFillers[w] {
			continue
		}
		return false
	}
	return false
}

// ---- pain scores ---------------------------------------------------------

type scoreFound struct {
	value int
	text  string
}

var (
	outOfTen  = regexp.MustCompile(`\b(\d{1,2}(?:[.,]5)?|` + numberWordAlt + `)(?:\s*-\s*(\d{1,2}))?\s*(?:/|out of|outta|of|de|sobre|en)\s*(?:10|ten|diez)\b`)
	bare      = regexp.MustCompile(`^\W*(?:about|around|maybe|like|prob|probably|approx|roughly|a|an|its|it is|still|now|today|pain|hoy|ahora|un|una|como|unos|mas o menos|dolor)?\s*(?:a |an |un |una |de |en |at |is |es )?(\d{1,2}(?:[.,]5)?|` + numberWordAlt + `)(?:\s*-\s*(\d{1,2}))?\W*(?:today|now|hoy|ahora|thanks|thank you|gracias|emoji\w+)?\W*$`)
	afterPain = regexp.MustCompile(`\b(?:pain|dolor|score|level|nivel|about|around|at|still)\s+(?:is\s+|es\s+|at\s+|de\s+|en\s+|about\s+|around\s+|now\s+|level\s+)?(?:like\s+|maybe\s+|about\s+|around\s+|como\s+)?(?:a\s+|an\s+|un\s+|una\s+)?(\d{1,2}|` + numberWordAlt + `)(?:\s*(?:-|or|to|o|a)\s*(\d{1,2}))?\b(\s*\w+)?`)
)

const numberWordAlt = `zero|one|two|three|four|five|six|seven|eight|nine|ten|cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez`

var numberWords = map[string]int{
	"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
	"cero": 0, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
}

// Units after a number that make it not a pain score: "2 days", "at 3pm".
var units = map[string]bool{
	"day": true, "days": true, "hour": true, "hours": true, "hrs": true, "h": true, "am": true, "pm": true, "min": true, "mins": true,
	"minutes": true, "minute": true, "dias": true, "horas": true, "pills": true, "tablets": true, "times": true, "x": true, "weeks": true,
	"o": true, "oclock": true, "ibuprofen": true, "mg": true, "percent": true,
}

// painScore finds a 0-10 pain score: "8/10", "8 out of 10", "7 de 10", a
// bare "6" (the texts ask for a number), "pain is about a 5". A range such
// as "6-7" counts as its top, for recall.
func painScore(norm string) *scoreFound {
	pick := func(m []string) *scoreFound {
		v, ok := scoreValue(m[1])
		if m[2] != "" {
			if hi, err := strconv.Atoi(m[2]); err == nil && hi > v && hi <= 10 {
				v = hi
			}
		}
		if !ok || v < 0 || v > 10 {
			return nil
		}
		return &scoreFound{value: v, text: strings.TrimSpace(m[0])}
	}
	if m := outOfTen.FindStringSubmatch(norm); m != nil {
		return pick(m)
	}
	if m := bare.FindStringSubmatch(strings.TrimSpace(norm)); m != nil {
		return pick(m)
	}
	for _, m := range afterPain.FindAllStringSubmatch(norm, -1) {
		if units[strings.TrimSpace(m[3])] {
			continue
		}
		if s := pick(m[:3]); s != nil {
			return s
		}
	}
	return nil
}

func scoreValue(s string) (int, bool) {
	if v, ok := numberWords[s]; ok {
		return v, true
	}
	// Half points round up: "6.5" counts as 7.
	if whole, half, ok := strings.Cut(strings.ReplaceAll(s, ",", "."), "."); ok && half == "5" {
		v, err := strconv.Atoi(whole)
		return v + 1, err == nil
	}
	v, err := strconv.Atoi(s)
	return v, err == nil
}

// ---- deciding ------------------------------------------------------------

// decide weighs what was found: a red flag first, then worsening (unless a
// later clause says it has passed: "was worse yesterday but better today"),
// the pain score, a question, improving, the same, other.
func (f *findings) decide(previous *int) Decision {
	if s := f.first(RedFlag, false); s != nil {
		return Decision{Class: RedFlag, Reason: "red flag: " + s.reason, Score: f.scoreValue()}
	}
	if f.score != nil && f.score.value >= SevereScore {
		return Decision{Class: RedFlag, Reason: fmt.Sprintf("red flag: severe pain (%q is %d or more out of 10)", f.score.text, SevereScore), Score: f.scoreValue()}
	}
	if t := f.trend; t != nil && t.to-t.from >= WorseningRise {
		return Decision{Class: Worsening, Reason: t.reason(Worsening), Score: f.scoreValue()}
	}
	if s := f.currentWorsening(); s != nil {
		if f.labelledExpected() && !strings.HasPrefix(s.reason, "says worse") {
			// The client calls it expected: a person reads it, nobody is paged.
			return Decision{Class: NeedsReview, Reason: "needs review: " + s.reason + ", which the client calls expected", Score: f.scoreValue()}
		}
		return Decision{Class: Worsening, Reason: "worsening: " + s.reason, Score: f.scoreValue()}
	}
	if t := f.trend; t != nil && t.to < t.from && t.to < WorseningScore {
		return Decision{Class: Improving, Reason: t.reason(Improving), Score: f.scoreValue()}
	}
	if f.score != nil {
		v := f.score.value
		switch {
		case v >= WorseningScore:
			return Decision{Class: Worsening, Reason: fmt.Sprintf("worsening: pain score %q is %d or more", f.score.text, WorseningScore), Score: &v}
		case previous != nil && v-*previous >= WorseningRise:
			return Decision{Class: Worsening, Reason: fmt.Sprintf("worsening: pain rose from %d to %d out of 10", *previous, v), Score: &v}
		}
	}
	if reason := f.newOrOdd(); reason != "" {
		// Not worse in so many words, but not fine either: a person reads it.
		return Decision{Class: NeedsReview, Reason: "needs review: " + reason, Score: f.scoreValue()}
	}
	if f.question != "" {
		return Decision{Class: Question, Reason: "question: " + f.question, Score: f.scoreValue()}
	}
	if f.score != nil {
		v := f.score.value
		switch {
		case previous != nil && v < *previous:
			return Decision{Class: Improving, Reason: fmt.Sprintf("improving: pain fell from %d to %d out of 10", *previous, v), Score: &v}
		case v == 0:
			return Decision{Class: Improving, Reason: fmt.Sprintf("improving: no pain (%q)", f.score.text), Score: &v}
		case previous != nil:
			return Decision{Class: Same, Reason: fmt.Sprintf("same: pain %d out of 10, was %d", v, *previous), Score: &v}
		}
		if s := f.first(Improving, true); s != nil {
			return Decision{Class: Improving, Reason: "improving: " + s.reason, Score: &v}
		}
		return Decision{Class: Same, Reason: fmt.Sprintf("same: pain score %q, none before to compare", f.score.text), Score: &v}
	}
	if s := f.first(Improving, true); s != nil {
		return Decision{Class: Improving, Reason: "improving: " + s.reason}
	}
	if s := f.sameSaid(); s != nil {
		return Decision{Class: Same, Reason: "same: " + s.reason}
	}
	// Fail-safe: nothing above read it with confidence, so a reply that
	// talks about the body, a symptom, medicine or care goes to a person.
	if c := concernIn(f.clauses); c != "" {
		return Decision{Class: NeedsReview, Reason: "needs review: " + c + ", and no rule reads it with confidence"}
	}
	if s := f.first(Same, true); s != nil {
		return Decision{Class: Same, Reason: "same: " + s.reason}
	}
	return Decision{Class: Other, Reason: "other: no pain report, symptom or question found"}
}

// sameSaid returns the last signal that says the same in so many words
// ("same", "no change", "still sore"), not only "still".
func (f *findings) sameSaid() *signal {
	var found *signal
	for i := range f.signals {
		if s := &f.signals[i]; s.class == Same && !strings.HasPrefix(s.reason, weakSame) {
			found = s
		}
	}
	return found
}

func (f *findings) scoreValue() *int {
	if f.score == nil {
		return nil
	}
	v := f.score.value
	return &v
}

// first returns the first signal of a class; last picks the latest clause.
func (f *findings) first(class Class, last bool) *signal {
	var found *signal
	for i := range f.signals {
		if f.signals[i].class == class && !(class == RedFlag && f.signals[i].expected && f.discounted(f.signals[i].part/1000)) {
			found = &f.signals[i]
			if !last {
				return found
			}
		}
	}
	return found
}

// currentWorsening returns a worsening signal unless it is placed in the
// past and another clause says things are better or the same now.
func (f *findings) currentWorsening() *signal {
	for i := range f.signals {
		s := &f.signals[i]
		if s.class != Worsening {
			continue
		}
		if s.past && slices.ContainsFunc(f.signals, func(o signal) bool {
			return o.part != s.part && !o.past && o.class == Improving
		}) {
			continue
		}
		if s.expected && f.discounted(s.part/1000) {
			continue // feared, and it did not happen
		}
		return s
	}
	return nil
}
