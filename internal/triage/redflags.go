package triage

import "strings"

// Red flags from clinical guidance, each a rule over concepts in one
// clause: what the client describes, in any words for it, rather than a
// list of whole phrases. Each raises the reply to a red flag, so the client
// is told to seek care now and the clinic is paged.

var (
	// Skin reaction words, as after a massage oil or lotion.
	skinReaction = newConcept("hives", "welts", "rash", "allergic", "allergy", "reaction", "itchy", "itching", "blotchy",
		"ronchas", "alergia", "alergica", "alergico", "urticaria", "sarpullido", "salpullido", "reaccion", "comezon", "picazon",
		"itch", "itches", "itchiness", "bumps all over", "breaking out", "broke out", "pica", "me pica", "picor", "habones",
		"granitos", "manchas rojas", "brote")
	// The face and airway.
	airwayPart = newConcept("lip", "lips", "tongue", "throat", "face", "eyes", "eyelids", "mouth",
		"labio", "labios", "lengua", "garganta", "cara", "ojos", "parpados", "boca")
	// The airway itself: swelling there is a red flag with or without a rash.
	innerAirway = newConcept("throat", "tongue", "lip", "lips", "garganta", "lengua", "labio", "labios")
	// A reaction spreading over the body: it can become anaphylaxis.
	spreading = newConcept("spreading", "spread", "spreads", "all over", "everywhere", "por todo el cuerpo", "por todas partes",
		"por todos lados", "se extiende", "extendiendo", "whole body", "todo el cuerpo")
	swollen = newConcept("swollen", "swelling", "swell", "swelled", "puffy", "puffed", "bigger", "tight", "tightness",
		"closing", "closed", "closing up", "thick", "hinchado", "hinchada", "hinchados", "hinchadas", "hinchazon", "inflamado",
		"inflamada", "cerrando", "cerrada", "cerro", "se me cierra", "apretada", "gorda", "gordos", "hincho", "hinchando",
		"hinchandose", "swelling up", "swelled up", "hoarse", "ronca", "ronco")
	// Trouble swallowing: the throat, from inside.
	swallowing = newConcept("hard to swallow", "cant swallow", "trouble swallowing", "difficulty swallowing", "struggling to swallow",
		"hurts to swallow", "me cuesta tragar", "no puedo tragar", "dificultad para tragar", "cuesta tragar", "no trago")
	// Breathing trouble.
	breathing = newConcept("cant breathe", "hard to breathe", "trouble breathing", "struggling to breathe", "breathless",
		"short of breath", "shortness of breath", "out of breath", "cant catch my breath", "wheezing", "wheezy", "gasping",
		"no puedo respirar", "no podia respirar", "no podía respirar", "no puede respirar", "me cuesta respirar", "me falta el aire", "falta de aire", "sin aire", "ahogo", "me ahogo",
		"respiro mal", "dificultad para respirar")
	// FAST: face, arms, speech (NHS, "Stroke: symptoms"; American Stroke
	// Association, "BE FAST").
	// Each FAST sign is a part and what is wrong with it, in one clause, so
	// "my smile's gone lopsided" reads without that phrase on any list.
	facePart = newConcept("face", "smile", "smiles", "smiling", "sonreir", "sonrie", "mouth", "lip", "eyelid", "cheek", "cara", "sonrisa", "boca", "labio", "parpado",
		"mejilla")
	droop = newConcept("drooping", "droopy", "droops", "drooped", "crooked", "lopsided", "uneven", "sagging", "saggy", "fallen",
		"dropped", "slack", "wonky", "one side", "de un lado", "un lado", "torcida", "torcido", "caida", "caido", "chueca", "chueco", "ladeada", "ladeado", "colgando")
	speechPart = newConcept("speech", "speaking", "talking", "talk", "talks", "words", "voice", "habla", "hablo", "hablando",
		"palabras", "voz", "hablar")
	speechWrong = newConcept("slurred", "slurring", "slur", "funny", "weird", "strange", "wrong", "garbled", "jumbled", "mumbled",
		"drunk", "thick", "raro", "rara", "arrastrando", "arrastra", "arrastro", "trabada", "trabado", "enredada", "cant get",
		"cant find", "no me salen", "no le salen", "mal", "arrastrado", "no se le entiende", "no se entiende", "cant understand",
		"hard to understand")
	armPart  = newConcept("arm", "hand", "grip", "brazo", "mano")
	armWrong = newConcept("weak", "heavy", "dropping things", "drops things", "dropping stuff", "cant hold", "cant grip",
		"cant lift", "cant raise", "wont lift", "useless", "limp", "debil", "pesado", "pesada", "se me caen", "sin fuerza",
		"no puedo levantar", "no responde", "floja", "flojo", "losing grip", "losing my grip", "dropping", "keep dropping",
		"cant move", "no puede mover", "no puedo mover", "se me cae", "se le cae")
	// Sudden confusion (NHS, "Stroke: symptoms", other signs).
	confusion = newConcept("confused", "confusion", "disoriented", "doesnt know where", "didnt know where", "doesnt know what day",
		"not making sense", "confundido", "confundida", "desorientado", "desorientada", "no sabe que dia", "no sabe donde",
		"no sabia donde", "no sabe quien")
	faceDroop = newConcept("face drooping", "face droopy", "face is drooping", "droopy face", "drooping", "one side of my face",
		"side of my face", "smile is crooked", "crooked smile", "face feels numb", "cara caida", "cara torcida", "boca torcida",
		"un lado de la cara", "lado de la cara")
	speech = newConcept("slurred", "slurring", "slur", "words coming out wrong", "cant speak", "cant get my words out",
		"cant find my words", "talking funny", "speech is", "arrastro las palabras", "hablo raro", "no puedo hablar",
		"hablo mal", "se me traba la lengua", "no me salen las palabras")
	armWeak = newConcept("cant lift my arm", "cant raise my arm", "arm is weak", "arm feels weak", "arm went weak",
		"arm feels heavy", "arm is heavy", "no puedo levantar el brazo", "brazo debil", "brazo sin fuerza")
	// A clot: a leg swollen, warm or red on one side (NICE NG158, venous
	// thromboembolic diseases), with or without pain; a clot in the lung:
	// breathlessness, chest pain, coughing blood, a racing heart.
	lowerLeg = newConcept("calf", "calves", "leg", "legs", "ankle", "shin", "pantorrilla", "pierna", "piernas", "tobillo",
		"gemelo", "chamorro")
	// Not "heavy" or "tight": after a deep massage legs often feel both.
	legSign = newConcept("swollen", "swelling", "puffy", "warm", "hot", "red", "reddish", "bigger", "thicker", "bigger than",
		"gorda", "gordo", "mas grande", "mas gorda", "mas gordo",
		"hinchada", "hinchado", "hinchazon", "caliente", "roja", "rojo", "rojiza", "inflamada")
	lungSign = newConcept("coughing blood", "coughed blood", "coughed up blood", "coughing up blood", "blood when i cough",
		"chest pain", "chest hurts", "chest is tight", "tight chest", "tightness in my chest", "tight feeling in my chest",
		"heart racing", "heart is racing", "racing heart", "heart pounding",
		"tos con sangre", "tosi sangre", "sangre al toser", "dolor en el pecho", "me duele el pecho", "opresion en el pecho",
		"pecho apretado", "corazon acelerado", "taquicardia")
)

var (
	// Cauda equina (NICE CKS "Sciatica (lumbar radiculopathy)", red
	// flags; GIRFT national suspected cauda equina pathway, 2023): numbness
	// in the saddle area, new bladder or bowel trouble, both legs weak.
	saddleArea = newConcept("groin", "buttocks", "bum", "butt", "saddle", "between my legs", "down there", "down below",
		"private parts", "genitals", "genitales", "ingle", "gluteos", "nalgas", "entre las piernas", "zona intima", "partes intimas")
	numbWord = newConcept("numb", "numbness", "no feeling", "cant feel", "tingling", "pins and needles",
		"entumecido", "entumecida", "adormecido", "adormecida", "dormido", "dormida", "hormigueo", "no siento")
	bladderBowel = newConcept("cant pee", "cant wee", "cant urinate", "trouble peeing", "trouble urinating",
		"wet myself", "peed myself", "wet the bed", "wet my bed", "mojé la cama", "moje la cama", "me orine en la cama", "leaking urine", "cant control my bladder", "lost control of my bladder",
		"cant control my bowels", "lost control of my bowels", "bladder", "bowels", "incontinence", "incontinent",
		"no puedo orinar", "no puedo hacer pipi", "me orine", "se me escapa la orina", "no controlo la vejiga",
		"vejiga", "no controlo el intestino", "incontinencia")
	// The bladder by its words, and trouble with it: "cant feel when I need
	// to pee", "had an accident", "no siento ganas de orinar".
	bladderPart  = newConcept("intestino", "intestinos", "pis", "pee", "peeing", "wee", "urinate", "urinating", "urine", "toilet", "bathroom", "loo", "bladder", "poo", "bowel", "bowels", "orinar", "orina", "pipi", "bano", "vejiga", "hacer del bano")
	bladderWrong = newConcept("cant feel", "cant tell", "accident", "leaking", "leaked", "wet", "control", "cant go", "cant",
		"no puedo", "no siento", "se me escapa", "se me salio", "no controlo", "no aguanto", "accidente", "no me doy cuenta")
	bothLegs = newConcept("both legs", "both my legs", "ambas piernas", "las dos piernas")
	legsWeak = newConcept("weak", "weakness", "give way", "giving way", "gave way", "buckle", "buckling", "numb",
		"debiles", "debil", "sin fuerza", "se me doblan", "entumecidas", "dormidas", "flojas", "flojos", "weak legs")
	// Nerve compromise: a foot that will not lift (foot drop), a limb
	// that loses strength (NICE CKS "Sciatica", progressive neurological
	// deficit).
	footPart  = newConcept("foot", "toes", "pie", "punta del pie", "dedos del pie", "tobillo", "ankle")
	footWrong = newConcept("se me cae", "se cae", "no lo puedo levantar", "cant lift", "wont lift", "drags", "dragging", "drag", "slapping", "slaps", "flopping", "floppy",
		"catching", "catches", "tripping", "no puedo levantar", "no levanta", "arrastra", "arrastro", "arrastrando", "se cae", "no responde")
	footDrop = newConcept("foot drop", "dropped foot", "cant lift my foot", "cant lift my toes", "foot slapping",
		"foot is slapping", "foot drags", "dragging my foot", "tripping over my foot", "foot wont lift",
		"no puedo levantar el pie", "se me arrastra el pie", "arrastro el pie", "pie caido", "el pie no me responde")
	// Infection with fever (NICE NG51, sepsis; NICE NG141, cellulitis):
	// a fever or chills, with a hot, red or weeping area.
	feverWord = newConcept("fever", "feverish", "temperature", "chills", "shivering", "shivery", "sweats", "hot and cold",
		"fiebre", "calentura", "escalofrios", "temblores", "destemplado", "destemplada")
	infectedArea = newConcept("red", "redness", "hot", "warm", "swollen", "pus", "oozing", "weeping", "infected", "infection",
		"spreading", "streak", "roja", "rojo", "enrojecido", "caliente", "hinchado", "hinchada", "pus", "supura",
		"infectado", "infectada", "infeccion")
	// Fainting (NICE CG109, transient loss of consciousness).
	fainted = newConcept("fainted", "faint", "fainting", "passed out", "blacked out", "black out", "collapsed", "keeled over",
		"lost consciousness", "nearly passed out", "almost passed out", "me desmaye", "desmayo", "desmayé",
		"perdi el conocimiento", "casi me desmayo", "me dio un vahido", "me cai redondo", "me cai redonda", "desvaneci",
		"me desvaneci", "me desvanezco", "se desmayo", "me fui al piso", "went down", "hit the floor", "came to", "woke up on the floor")
)

// redFlagIn names the red flag a clause describes, or "".
func redFlagIn(words []string) string {
	for _, r := range redFlagRules {
		if r.holds(words) {
			return r.reads
		}
	}
	return ""
}

// redFlagRules are tried in order on each clause; the first that holds
// names the red flag. Each cites the guidance it follows.
var redFlagRules = []clauseRule{
	{name: "anaphylaxis", class: RedFlag, reads: "allergic reaction with swelling of the face or airway, or trouble breathing",
		source: "Resuscitation Council UK, Emergency treatment of anaphylaxis (2021)",
		holds: func(w []string) bool {
			return skinReaction.find(w) >= 0 && (breathing.find(w) >= 0 || airwayPart.find(w) >= 0 && swollen.find(w) >= 0)
		}},
	{name: "allergy_spreading", class: RedFlag, reads: "an allergic reaction spreading over the body",
		source: "Resuscitation Council UK (2021): a reaction that spreads can become anaphylaxis",
		holds: func(w []string) bool {
			return skinReaction.find(w) >= 0 && spreading.find(w) >= 0 && !deniedBefore(w, skinReaction.find(w))
		}},
	{name: "airway", class: RedFlag, reads: "throat or tongue swelling, or trouble swallowing",
		source: "Resuscitation Council UK (2021): airway problems",
		holds: func(w []string) bool {
			return innerAirway.find(w) >= 0 && swollen.find(w) >= 0 || swallowing.find(w) >= 0
		}},
	{name: "stroke", class: RedFlag, reads: "signs of a stroke (face, arm or speech, or sudden confusion)",
		source: "NHS, Stroke: symptoms; American Stroke Association, BE FAST",
		holds: func(w []string) bool {
			return faceDroop.find(w) >= 0 || speech.find(w) >= 0 || armWeak.find(w) >= 0 ||
				facePart.find(w) >= 0 && droop.find(w) >= 0 || speechPart.find(w) >= 0 && speechWrong.find(w) >= 0 ||
				armPart.find(w) >= 0 && armWrong.find(w) >= 0 && !deniedBefore(w, armWrong.find(w)) ||
				confusion.find(w) >= 0 && !deniedBefore(w, confusion.find(w))
		}},
	{name: "clot_lung", class: RedFlag, reads: "signs of a clot in the lung or a heart problem (chest, breathing, coughing blood)",
		source: "NICE NG158, venous thromboembolic diseases (pulmonary embolism)",
		holds:  func(w []string) bool { return lungSign.find(w) >= 0 }},
	{name: "breathing", class: RedFlag, reads: "trouble breathing",
		source: "Resuscitation Council UK (2021); NICE NG158",
		holds:  func(w []string) bool { return breathing.find(w) >= 0 }},
	{name: "clot_leg", class: RedFlag, reads: "signs of a clot in the leg (swollen, warm, red or heavy)",
		source: "NICE NG158, venous thromboembolic diseases (deep vein thrombosis)",
		holds: func(w []string) bool {
			return lowerLeg.find(w) >= 0 && legSign.find(w) >= 0 && !deniedBefore(w, legSign.find(w))
		}},
	{name: "cauda_equina", class: RedFlag, reads: "signs of cauda equina (saddle numbness, bladder or bowel trouble, both legs weak)",
		source: "NICE CKS, Sciatica: red flags; GIRFT national suspected cauda equina pathway (2023)",
		holds: func(w []string) bool {
			return saddleArea.find(w) >= 0 && numbWord.find(w) >= 0 ||
				bladderBowel.find(w) >= 0 && !deniedBefore(w, bladderBowel.find(w)) ||
				bladderPart.find(w) >= 0 && bladderWrong.find(w) >= 0 && !deniedBefore(w, bladderWrong.find(w)) ||
				bothLegs.find(w) >= 0 && legsWeak.find(w) >= 0
		}},
	{name: "foot_drop", class: RedFlag, reads: "nerve compromise (the foot will not lift)",
		source: "NICE CKS, Sciatica: progressive neurological deficit",
		holds:  func(w []string) bool { return footDrop.find(w) >= 0 || footPart.find(w) >= 0 && footWrong.find(w) >= 0 }},
	{name: "infection_fever", class: RedFlag, reads: "signs of infection with a fever",
		source: "NICE NG51, sepsis; NICE NG141, cellulitis",
		holds: func(w []string) bool {
			return feverWord.find(w) >= 0 && infectedArea.find(w) >= 0 && !deniedBefore(w, feverWord.find(w))
		}},
	{name: "fainting", class: RedFlag, reads: "fainted or nearly fainted",
		source: "NICE CG109, transient loss of consciousness",
		holds:  func(w []string) bool { return fainted.find(w) >= 0 && !deniedBefore(w, fainted.find(w)) }},
}

// applyRedFlags raises d to a red flag where a clause matches a rule.
func applyRedFlags(clauses []clause, d Decision, skip func(int) bool) Decision {
	if d.Class == RedFlag {
		return d
	}
	for i, c := range clauses {
		if skip(i) {
			continue
		}
		if reason := redFlagIn(c.words); reason != "" && !clauseDenied(c.words) {
			d.Class, d.Reason = RedFlag, "red flag: "+reason+" ("+strings.Join(c.words[:min(len(c.words), 8)], " ")+")"
			return d
		}
	}
	return d
}

// clauseDenied: a clause that opens with a denial ("no swelling, no rash")
// reports nothing.
func clauseDenied(words []string) bool {
	if len(words) > 1 && (deniedVerbs[words[1]] || words[1] == ",") {
		// "No, my face has dropped": an answer, not a denial.
		return false // "no puedo levantar el pie" says something, denies nothing
	}
	return len(words) > 0 && (words[0] == "no" || words[0] == "not" || words[0] == "ni" || words[0] == "sin" || words[0] == "nothing")
}

// After an opening "no", these make the clause a statement: "no puedo",
// "no siento", "no me responde".
var deniedVerbs = set("puedo", "puede", "pude", "me", "se", "le", "siento", "logro", "consigo", "aguanto", "controlo", "sabe", "se")
