package triage

import (
	"regexp"
	"strconv"
	"strings"
)

// Concepts found in a reply and combined by rules, rather than whole
// phrases: a medicine named anywhere and "not helping" anywhere in the
// same clause make "medicine not helping", whatever the drug or the words.
// Each rule may only raise a decision (other -> worsening -> red flag),
// never lower one.

// concept is a set of single words and multi-word phrases.
type concept struct {
	words   map[string]bool
	phrases [][]string
}

func newConcept(list ...string) concept {
	c := concept{words: map[string]bool{}}
	for _, item := range list {
		if strings.Contains(item, " ") {
			c.phrases = append(c.phrases, strings.Fields(item))
		} else {
			c.words[item] = true
		}
	}
	return c
}

// at reports whether the concept starts at words[i], and where it ends.
func (c concept) at(words []string, i int) (end int, ok bool) {
	if c.words[words[i]] {
		return i + 1, true
	}
	for _, p := range c.phrases {
		if hasPhraseAt(words, i, p) {
			return i + len(p), true
		}
	}
	return 0, false
}

// find returns the index of the first word of the concept in words, or -1.
// A plural or possessive "s" is read off a word: "tylenol's", "calfs".
func (c concept) find(words []string) int {
	for i, w := range words {
		if c.words[w] || len(w) > 3 && w[len(w)-1] == 's' && c.words[w[:len(w)-1]] {
			return i
		}
		for _, p := range c.phrases {
			if hasPhraseAt(words, i, p) {
				return i
			}
		}
	}
	return -1
}

var (
	// A medicine, by name (the common pain relievers, English and Spanish
	// brand and generic names) or by kind.
	medicine = newConcept("ibuprofen", "ibuprofeno", "advil", "motrin", "nurofen", "paracetamol", "acetaminophen",
		"acetaminofen", "tylenol", "panadol", "naproxen", "naproxeno", "aleve", "aspirin", "aspirina", "codeine", "codeina",
		"cocodamol", "co codamol", "tramadol", "diclofenac", "diclofenaco", "voltaren", "voltarol", "metamizol", "nolotil",
		"painkiller", "painkillers", "pain killer", "pain killers", "pain meds", "meds", "medication", "medicine",
		"medicina", "medicamento", "medicamentos", "pills", "tablets", "pastilla", "pastillas", "analgesico", "analgesicos",
		"relajante", "muscle relaxant", "ibu", "ibus")
	// Not helping, as people say it.
	notHelping = newConcept("not helping", "not help", "not helped", "no help", "not working", "not work", "not worked",
		"not touching", "not touch", "did nothing", "do nothing", "does nothing", "doing nothing", "done nothing",
		"not cutting it", "not cut it", "and nothing", "but nothing", "y nada", "pero nada", "even with", "ni con el", "ni el", "ni la",
		"ni los", "ni las", "not even", "no me quita", "no quita", "no lo quita", "barely", "apenas",
		"no me hace nada", "no me hizo nada", "no hizo nada", "no hicieron nada", "igual de fuerte", "sigue igual", "ni cosquillas", "not doing anything", "not doing much", "not do anything", "not do much",
		"useless", "no effect", "no difference", "barely touches", "barely touching", "barely helps", "wears off",
		"no ayuda", "no me ayuda", "no ayudan", "no hace nada", "no hacen nada", "no hace efecto", "no me hace efecto",
		"no hacen efecto", "no funciona", "no funcionan", "no sirve", "no sirven", "ni con", "ni siquiera con")
	// Something torn or a pop, felt in the body.
	tornOrPop = newConcept("pop", "popped", "popping", "snap", "snapped", "torn", "tore", "ripped", "rip", "tear in",
		"chasquido", "crujido", "crujio", "trono", "desgarro", "desgarre", "desgarrado", "desgarrada", "se rompio",
		"algo se rompio", "roto", "rota", "se me safo", "tirón", "tiron", "tronido", "tronar", "trono", "crack", "cracked",
		"pulled something", "pulled a muscle", "pulled my", "felt it go", "felt something go", "something went", "something gave",
		"me di un tiron", "se me fue", "senti algo", "twanged", "twang")
	// Injury in words that need no body part: "pulled something", "felt it go".
	injuryItself = newConcept("pulled something", "pulled a muscle", "felt it go", "felt something go", "something gave",
		"something went", "tore something", "torn something", "me di un tiron", "me desgarre", "desgarro", "algo se rompio",
		"se me rompio algo", "senti que algo se rompio")
	bodyPart = newConcept("neck", "shoulder", "shoulders", "back", "knee", "knees", "calf", "calves", "leg", "legs", "arm",
		"arms", "hip", "hips", "ankle", "wrist", "elbow", "hamstring", "hammy", "muscle", "muscles", "tendon", "ligament",
		"spine", "thigh", "quad", "glute", "foot", "hand", "rib", "ribs", "achilles",
		"cuello", "hombro", "hombros", "espalda", "rodilla", "rodillas", "pantorrilla", "pierna", "piernas", "brazo",
		"brazos", "cadera", "tobillo", "muneca", "codo", "musculo", "musculos", "tendon", "ligamento", "columna", "muslo",
		"gemelo", "gemelos", "pie", "mano", "costilla", "costillas")
	// Emergency care: a place or a call.
	emergencyCare = newConcept("a e", "ae", "er", "emergency room", "emergency department", "urgent care", "hospital",
		"ambulance", "paramedics", "911", "999", "112", "urgencias", "emergencias", "ambulancia", "guardia",
		"paramedicos", "la cruz roja", "el seguro", "sala de emergencia", "sala de emergencias", "emergency", "emergencia",
		"walk in", "minor injuries")
	// Said right after the place: "ER visit yesterday", "A&E trip last night".
	careAfter = newConcept("came", "arrived", "took me", "vino", "llego", "visit", "trip", "stay", "last night", "yesterday", "this morning", "visita", "anoche", "ayer")
	// Going to, being at or calling it: past or present, not a plan.
	careAction = newConcept("went", "been", "gone", "im", "am", "at", "in", "called", "took", "taken", "admitted",
		"sent", "ended up", "rushed", "visited", "came", "drove", "drove me", "brought me", "took me", "driving me", "llevo", "llevaron", "llamo", "llamaron", "tuve que ir", "tuvimos que ir", "fui", "fuimos", "estoy", "estuve", "llame", "llamamos",
		"me llevaron", "me mandaron", "termine", "acabe", "ingresado", "ingresada", "ingresaron")
	// Said before a word, in its clause, to deny it.
	deniers = newConcept("not", "no", "never", "without", "nunca", "sin", "no need", "no tuve que", "didnt need",
		"not need", "ni")
	// Worse as a multiple of before.
	multiplier = newConcept("twice", "double", "doubled", "triple", "tripled", "two times", "three times", "2x", "3x",
		"x2", "x3", "dos veces", "tres veces", "el doble", "el triple", "doble", "triple", "duplicado", "duplico", "se duplico")
	// Said with a multiple, these make it about something else: "drank
	// double the water", "twice as good".
	notPainMultiple = newConcept("water", "agua", "drink", "drank", "bebi", "dose", "dosis", "better", "mejor", "less", "menos",
		"good", "bien", "price", "precio")
	// A time said with the multiple: "doubled overnight", "doble que ayer".
	sinceWhen = newConcept("overnight", "since", "yesterday", "today", "ayer", "hoy", "de lo que", "que ayer", "than before",
		"than yesterday", "anoche", "esta manana", "this morning")
	comparativeWorse = newConcept("worse", "as bad", "more pain", "more sore", "the pain", "as much", "as sore",
		"peor", "mas dolor", "mas fuerte", "duele", "dolor", "the ache")
	// Pain or a symptom, for the rules that need the reply to be about pain.
	painConcept = newConcept("pain", "pains", "painful", "sore", "soreness", "ache", "aching", "aches", "hurts", "hurt", "hurting",
		"stiff", "tender", "dolor", "duele", "duelen", "adolorido", "adolorida", "molestia", "molestias", "agujetas")
	stillConcept = newConcept("still", "todavia", "aun", "sigue", "siguen", "sigo", "continues", "not gone", "hasnt gone",
		"keeps", "persists", "since", "desde", "for", "durante", "over", "more than", "mas de", "llevo", "llevamos", "ya van",
		"almost", "nearly", "going on", "casi", "hace")
	// Not easing: the pain is still there, said as a direction.
	notEasing = newConcept("no baja", "sigue igual de fuerte", "sigue fuerte", "still strong", "still bad", "not easing", "not eased", "not easing up", "not letting up", "not going away", "not gone away",
		"not getting better", "not improving", "no mejora", "no se quita", "no se va", "no se me quita", "no ha mejorado",
		"no se me pasa", "no se pasa")
)

// durationPattern finds a number of days or weeks: "10 days", "two
// weeks", "una semana", "hace 9 dias".
var durationPattern = regexp.MustCompile(`\b(\d{1,2}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|un|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|catorce|quince)\s+(days?|weeks?|dias|semanas?)\b`)

var countWords = map[string]int{"a": 1, "an": 1, "one": 1, "un": 1, "una": 1, "eleven": 11, "twelve": 12,
	"fourteen": 14, "once": 11, "doce": 12, "catorce": 14, "quince": 15}

// daysSaid is the longest duration the reply gives, in days.
func daysSaid(norm string) int {
	longest := 0
	if !strings.Contains(norm, "day") && !strings.Contains(norm, "week") && !strings.Contains(norm, "dia") && !strings.Contains(norm, "semana") {
		return 0
	}
	for _, m := range durationPattern.FindAllStringSubmatch(norm, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			if v, ok := numberWords[m[1]]; ok {
				n = v
			} else {
				n = countWords[m[1]]
			}
		}
		if strings.HasPrefix(m[2], "week") || strings.HasPrefix(m[2], "semana") {
			n *= 7
		}
		longest = max(longest, n)
	}
	if strings.Contains(norm, "last week") || strings.Contains(norm, "semana pasada") {
		longest = max(longest, 7)
	}
	return longest
}

// applyConcepts raises d where a rule over the reply's concepts says so.
// A clause that skip names (a fear that did not come true) is not read.
func applyConcepts(norm string, clauses []clause, d Decision, skip func(int) bool) Decision {
	raise := func(to Class, reason string) {
		if d.Class == RedFlag || (d.Class == Worsening && to == Worsening) {
			return
		}
		d.Class, d.Reason = to, reason
	}
	for i, c := range clauses {
		if skip(i) {
			continue
		}
		for _, r := range conceptRules {
			if r.holds(c.words) {
				raise(r.class, r.class.label()+": "+r.reads)
			}
		}
	}
	// Pain still there after a week: soreness after massage eases within a
	// few days; past a week it needs a professional (the tips say so).
	if days := daysSaid(norm); days >= 7 && d.Class != Improving {
		words := wordPattern.FindAllString(norm, -1)
		if painConcept.find(words) >= 0 && stillConcept.find(words) >= 0 || notEasing.find(words) >= 0 {
			raise(Worsening, "worsening: pain lasting "+strconv.Itoa(days)+" days or more")
		}
	}
	return d
}

// conceptRules combine concepts in one clause; each may raise a decision.
var conceptRules = []clauseRule{
	{name: "emergency_care", class: RedFlag, reads: "emergency care already sought",
		source: "any event after treatment that took the client to emergency care must reach the clinic; the client is told to follow the emergency service's advice",
		holds: func(w []string) bool {
			i := emergencyCare.find(w)
			return i >= 0 && (careAction.find(w[max(i-6, 0):i]) >= 0 || careAfter.find(w[i+1:min(i+3, len(w))]) == 0) &&
				deniers.find(w[max(i-6, 0):i]) < 0
		}},
	{name: "medicine_not_helping", class: Worsening, reads: "pain medicine not helping",
		source: "any medicine, by name or kind, with any words for not helping",
		holds:  func(w []string) bool { return medicine.find(w) >= 0 && notHelping.find(w) >= 0 }},
	{name: "injury", class: Worsening, reads: "felt something tear, pop or give",
		source: "a tear or a pop with pain needs a professional's look",
		holds: func(w []string) bool {
			if i := injuryItself.find(w); i >= 0 && !deniedBefore(w, i) {
				return true
			}
			i := tornOrPop.find(w)
			return i >= 0 && (bodyPart.find(w) >= 0 || painConcept.find(w) >= 0) && !deniedBefore(w, i)
		}},
	{name: "infection_signs", class: Worsening, reads: "signs of infection in one place (red, hot, swollen, pus)",
		source: "NICE NG141, cellulitis: with a fever it is a red flag (infection_fever)",
		holds: func(w []string) bool {
			signs := map[string]bool{}
			for i, word := range w {
				if infectedArea.words[word] && !deniedBefore(w, i) {
					signs[word] = true
				}
			}
			return len(signs) >= 2 && (signs["pus"] || signs["oozing"] || signs["weeping"] || signs["supura"] || len(signs) >= 3) ||
				signs["pus"] || signs["supura"]
		}},
	{name: "multiple", class: Worsening, reads: "pain a multiple of before",
		source: "twice, double, el doble ... with pain or a time to compare with",
		holds: func(w []string) bool {
			i := multiplier.find(w)
			return i >= 0 && (comparativeWorse.find(w) >= 0 || painConcept.find(w) >= 0 || sinceWhen.find(w) >= 0) &&
				notPainMultiple.find(w) < 0 && !deniedBefore(w, i)
		}},
}

// deniedBefore reports a denier within the three words before index i.
func deniedBefore(words []string, i int) bool {
	return deniers.find(words[max(i-3, 0):i]) >= 0
}

// set is a set of single words.
func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

func hasPhraseAt(words []string, i int, p []string) bool {
	if i+len(p) > len(words) {
		return false
	}
	for j, w := range p {
		if words[i+j] != w {
			return false
		}
	}
	return true
}
