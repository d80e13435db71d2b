package tips

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// TipFields fill a tip's merge fields: {first_name}, {clinic},
// {clinic_phone} and {rebook_url}.
type TipFields struct {
	FirstName   string // the client's, as FirstName gives it; empty: the language's word for none
	Clinic      string
	ClinicPhone string
	RebookURL   string
}

// MaxFirstName is the most septets of a client's first name put in a text;
// a longer name, or one outside GSM-7 (which would make the text UCS-2 and
// cost two or three segments), is left out.
const MaxFirstName = 12

// FirstName is the first word of a client's name as a tip may use it, or ""
// when it cannot be used.
func FirstName(name string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(name), " ")
	if n, ok := GSM7Length(first); !ok || n > MaxFirstName {
		return ""
	}
	return first
}

var fieldPattern = regexp.MustCompile(`\{[^{}]*\}`)

// mergeFields are the fields a template may use.
var mergeFields = [...]string{"{first_name}", "{clinic}", "{clinic_phone}", "{rebook_url}"}

func merge(tmpl string, f TipFields, lang string) string {
	name := f.FirstName
	if name == "" {
		name = languages[lang].NoName
	}
	text := fill(tmpl, [len(mergeFields)]string{name, f.Clinic, f.ClinicPhone, f.RebookURL})
	// "Hola {first_name}," with no name reads "Hola,".
	return strings.ReplaceAll(text, " ,", ",")
}

// fill puts values[i] in place of each mergeFields[i] in tmpl, as a
// strings.Replacer of those pairs would: a text is rendered for every
// follow-up sent, and building a Replacer for each cost a fiftieth of the
// worker's CPU.
func fill(tmpl string, values [len(mergeFields)]string) string {
	var b strings.Builder
	b.Grow(len(tmpl) + len(values[0]) + len(values[1]))
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		tmpl = tmpl[i:]
		put, skip := "{", 1
		for k, field := range mergeFields {
			if strings.HasPrefix(tmpl, field) {
				put, skip = values[k], len(field)
				break
			}
		}
		b.WriteString(put)
		tmpl = tmpl[skip:]
	}
}

// DefaultService keys a clinic's texts for any service it has none for.
const DefaultService = "default"

// Book renders one clinic's tips: its own texts for the session's service
// and the client's language where it has them, else its default texts, else
// the built-in ones.
type Book struct {
	texts  map[string]map[string][]string // service, language, day
	fields TipFields
}

// NewBook is the book of a clinic's texts (checked at start with Check).
func NewBook(c aftercare.Clinic) *Book {
	return &Book{texts: c.Texts, fields: TipFields{Clinic: c.Name, ClinicPhone: c.ContactPhone, RebookURL: c.RebookURL}}
}

// Render returns the text of a step for a session of service, to a client
// named clientName; locales are tried in order (the client's, then the
// clinic's), and the client's language comes before the service's texts.
func (b *Book) Render(step aftercare.Step, service, clientName string, locales ...string) (string, error) {
	if step < 1 || int(step) > Steps {
		return "", fmt.Errorf("no aftercare text for step %d", step)
	}
	f := b.fields
	f.FirstName = FirstName(clientName)
	for _, locale := range locales {
		lang := aftercare.Language(locale)
		for _, svc := range []string{service, DefaultService} {
			if days, ok := b.texts[svc][lang]; ok && svc != "" {
				return merge(days[step-1], f, lang), nil
			}
		}
		if Supported(lang) {
			return Render(step, f, lang)
		}
	}
	return Render(step, f, locales...)
}

// MaxUCS2Segments is the most segments a clinic's text may cost when it is
// sent as UCS-2 (a character outside GSM-7, such as á or an emoji).
const MaxUCS2Segments = 3

// Segments returns how many SMS segments text costs, and whether it goes as
// GSM-7 (else UCS-2).
func Segments(text string) (int, bool) {
	if n, ok := GSM7Length(text); ok {
		if n <= SegmentLimit {
			return 1, true
		}
		return (n + 152) / 153, true
	}
	n := len(utf16.Encode([]rune(text)))
	if n <= 70 {
		return 1, false
	}
	return (n + 66) / 67, false
}

// Check checks a clinic's own texts as the program starts, with the merge
// fields at their longest: the clinic's own name, number and rebooking link,
// and a first name of MaxFirstName septets. Each must name the clinic and
// its number, keep its language's opt-out hint, use only known fields, and
// fit one GSM-7 segment; a text that needs UCS-2 is allowed up to
// MaxUCS2Segments and reported in notes with its segment count.
func Check(c aftercare.Clinic) (notes []string, err error) {
	var problems []string
	worst := TipFields{FirstName: strings.Repeat("W", MaxFirstName), Clinic: c.Name, ClinicPhone: c.ContactPhone, RebookURL: c.RebookURL}
	for _, svc := range slices.Sorted(maps.Keys(c.Texts)) {
		if svc != DefaultService && aftercare.ServiceKey(svc) != svc {
			problems = append(problems, fmt.Sprintf("texts.%s: a service is written in lowercase letters, digits and _ (%q), or is %q", svc, aftercare.ServiceKey(svc), DefaultService))
		}
		for _, lang := range slices.Sorted(maps.Keys(c.Texts[svc])) {
			field := "texts." + svc + "." + lang
			l, ok := languages[lang]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: no language file for %q (have %v): it says the opt-out hint texts in it must keep", field, lang, Languages()))
				continue
			}
			days := c.Texts[svc][lang]
			if len(days) != Steps {
				problems = append(problems, fmt.Sprintf("%s: want %d texts, day 1 to %d; have %d", field, Steps, Steps, len(days)))
				continue
			}
			for i, tmpl := range days {
				where := fmt.Sprintf("%s day %d", field, i+1)
				for _, used := range fieldPattern.FindAllString(tmpl, -1) {
					if !slices.Contains(mergeFields[:], used) {
						problems = append(problems, fmt.Sprintf("%s: unknown merge field %s; have %v", where, used, mergeFields))
					}
				}
				if !strings.Contains(tmpl, "{clinic}") || !strings.Contains(tmpl, "{clinic_phone}") {
					problems = append(problems, where+": must name the clinic and its number ({clinic} and {clinic_phone})")
				}
				if !strings.Contains(strings.ToLower(tmpl), strings.ToLower(l.OptOut)) {
					problems = append(problems, fmt.Sprintf("%s: must keep the opt-out hint %q", where, l.OptOut))
				}
				if strings.Contains(tmpl, "{rebook_url}") && c.RebookURL == "" {
					problems = append(problems, where+": uses {rebook_url}, but the clinic has no rebook_url")
				}
				text := merge(tmpl, worst, lang)
				segments, gsm := Segments(text)
				switch {
				case gsm && segments > 1:
					n, _ := GSM7Length(text)
					problems = append(problems, fmt.Sprintf("%s: %d GSM-7 characters with the longest merge values, over one segment (%d)", where, n, SegmentLimit))
				case !gsm && segments > MaxUCS2Segments:
					problems = append(problems, fmt.Sprintf("%s: UCS-2 (not GSM-7: %s), %d segments with the longest merge values, over %d", where, notGSM7(text), segments, MaxUCS2Segments))
				case !gsm:
					notes = append(notes, fmt.Sprintf("clinic %q %s: UCS-2 (not GSM-7: %s), %d segment(s) each", c.ID, where, notGSM7(text), segments))
				}
			}
		}
	}
	if len(problems) > 0 {
		return notes, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return notes, nil
}

// notGSM7 quotes the first character of text outside GSM-7.
func notGSM7(text string) string {
	for _, r := range text {
		if _, ok := GSM7Length(string(r)); !ok {
			return fmt.Sprintf("%q", r)
		}
	}
	return ""
}
