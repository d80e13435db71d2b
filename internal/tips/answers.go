package tips

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Answer names a text sent back to a client who wrote to us.
type Answer string

const (
	AnswerWorsening     Answer = "worsening"      // the clinic will be in touch
	AnswerRedFlag       Answer = "red_flag"       // seek urgent care now; the clinic will be in touch
	AnswerHelp          Answer = "help"           // who we are and how to reach the clinic
	AnswerOptOut        Answer = "opt_out"        // no more texts
	AnswerOptIn         Answer = "opt_in"         // texts resume
	AnswerQuestion      Answer = "question"       // staff will reply, by when; call if it is urgent
	AnswerUnknownClient Answer = "unknown_client" // no recent appointment for this number
	AnswerUnknownNumber Answer = "unknown_number" // the number is no clinic's
	// AnswerCrisis answers a client who may harm themselves, following
	// safe-messaging guidance: care, a crisis line, the emergency number.
	AnswerCrisis Answer = "crisis"
	// AnswerCrisisNoLine is the same where no crisis line is known.
	AnswerCrisisNoLine Answer = "crisis_no_line"
	// AnswerConfirmation is not an answer but the one text of a client's
	// first session, where the clinic asks for it: who, what to expect,
	// how to stop. It sits here with the other short texts per language.
	AnswerConfirmation Answer = "confirmation"
)

// Fields fill an answer: %[1]s the clinic's name, %[2]s its phone, %[3]s
// the emergency number, %[4]s a crisis line's number, %[5]s its name;
// a question's answer has %[4]s when the clinic replies instead.
type Fields struct {
	Clinic, Contact, Emergency string
	CrisisNumber, CrisisName   string
	// ReplyBy is when staff read and answer texts, in the client's words
	// ("within one working day"); DefaultReplyBy when empty.
	ReplyBy string
}

// MaxReplyBy bounds a clinic's reply_by, so the answer stays two segments.
const MaxReplyBy = 60

// DefaultReplyBy is how soon staff answer a question when the clinic has
// not said: the inbox is read in opening hours.
var DefaultReplyBy = map[string]string{
	"en": "within one working day",
	"es": "en un dia laborable",
}

// Answers are calm and plain, GSM-7 only, and at most two segments.
var answers = map[string]map[Answer]string{
	"en": {
		AnswerWorsening:     "%[1]s: Thank you for letting us know. Someone from the clinic will contact you soon. If it becomes severe, call %[3]s.",
		AnswerRedFlag:       "%[1]s: Thank you for telling us. These symptoms need checking now: please seek urgent care or call %[3]s. The clinic will also contact you.",
		AnswerHelp:          "%[1]s: aftercare texts after your session. Questions: call %[2]s. Reply STOP to opt out, START to opt back in.",
		AnswerOptOut:        "%[1]s: You will get no more aftercare texts from us. Reply START to opt back in.",
		AnswerOptIn:         "%[1]s: Aftercare texts are back on. Reply STOP to opt out.",
		AnswerQuestion:      "%[1]s: Thanks, the clinic team has your message and will reply %[4]s. If it is urgent, call us on %[2]s, or %[3]s in an emergency.",
		AnswerUnknownClient: "%[1]s: We could not match this number to a recent appointment. Please call us on %[2]s. If it is urgent, call %[3]s.",
		AnswerUnknownNumber: "This number does not take messages. If you need urgent medical help, call %[3]s.",
		AnswerCrisis:        "%[1]s: Thank you for telling us. We are sorry you are going through this, and you do not have to face it alone. You can call %[5]s on %[4]s, free, any time. If you are in danger now, call %[3]s. The clinic will contact you.",
		AnswerCrisisNoLine:  "%[1]s: Thank you for telling us. We are sorry you are going through this, and you do not have to face it alone. If you are in danger now, call %[3]s. The clinic will contact you.",
		AnswerConfirmation:  "%[1]s: we will text you aftercare tips over the next few days. Tel %[2]s. Reply STOP to opt out",
	},
	"es": {
		AnswerWorsening:     "%[1]s: Gracias por avisarnos. Alguien de la clinica le contactara pronto. Si empeora mucho, llame al %[3]s.",
		AnswerRedFlag:       "%[1]s: Gracias por avisarnos. Estos sintomas deben revisarse ya: busque atencion urgente o llame al %[3]s. La clinica tambien le contactara.",
		AnswerHelp:          "%[1]s: mensajes de cuidados tras su sesion. Dudas: llame al %[2]s. STOP para no recibir mas, START para volver a recibirlos.",
		AnswerOptOut:        "%[1]s: No recibira mas mensajes de cuidados. Responda START para volver a recibirlos.",
		AnswerOptIn:         "%[1]s: Vuelve a recibir mensajes de cuidados. Responda STOP para dejar de recibirlos.",
		AnswerQuestion:      "%[1]s: Gracias, el equipo de la clinica tiene su mensaje y le respondera %[4]s. Si es urgente, llamenos al %[2]s, o al %[3]s en una emergencia.",
		AnswerUnknownClient: "%[1]s: No encontramos una cita reciente con este numero. Llamenos al %[2]s. Si es urgente, llame al %[3]s.",
		AnswerUnknownNumber: "Este numero no recibe mensajes. Si necesita ayuda medica urgente, llame al %[3]s.",
		AnswerCrisis:        "%[1]s: Gracias por contarnoslo. Sentimos que este pasando por esto, y no tiene que afrontarlo solo. Puede llamar a %[5]s al %[4]s, gratis, a cualquier hora. Si esta en peligro ahora, llame al %[3]s. La clinica le contactara.",
		AnswerCrisisNoLine:  "%[1]s: Gracias por contarnoslo. Sentimos que este pasando por esto, y no tiene que afrontarlo solo. Si esta en peligro ahora, llame al %[3]s. La clinica le contactara.",
		AnswerConfirmation:  "%[1]s: le enviaremos consejos de cuidados en los proximos dias. Tel %[2]s. STOP para no recibir mas",
	},
}

// RenderAnswer returns an answer in the first of locales that has texts.
func RenderAnswer(a Answer, f Fields, locales ...string) (string, error) {
	lang := DefaultLanguage
	for _, l := range locales {
		if _, ok := answers[aftercare.Language(l)]; ok {
			lang = aftercare.Language(l)
			break
		}
	}
	tmpl, ok := answers[lang][a]
	if !ok {
		return "", fmt.Errorf("no answer text %q", a)
	}
	if f.Contact == "" {
		f.Contact = "the clinic"
	}
	args := []any{f.Clinic, f.Contact, f.Emergency}
	switch a {
	case AnswerQuestion:
		if f.ReplyBy == "" {
			f.ReplyBy = DefaultReplyBy[lang]
		}
		args = append(args, f.ReplyBy)
	case AnswerCrisis:
		if f.CrisisNumber == "" {
			return "", errors.New("a crisis answer needs the crisis line's number")
		}
		args = append(args, f.CrisisNumber, f.CrisisName)
	}
	return strings.TrimSpace(fmt.Sprintf(tmpl, args...)), nil
}
