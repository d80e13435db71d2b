package booking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Calendly takes Calendly webhooks. Calendly-Webhook-Signature is
// "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">", keyed with the
// subscription's signing key; a signature older than CalendlyTolerance is
// refused, so a captured webhook cannot be replayed later.
type Calendly struct{}

// CalendlyTolerance is how old a Calendly signature may be.
const CalendlyTolerance = 3 * time.Minute

type calendlyHook struct {
	Event     string `json:"event"`
	CreatedAt string `json:"created_at"`
	Payload   struct {
		URI                string `json:"uri"`
		CreatedAt          string `json:"created_at"` // when the invitee booked
		Name               string `json:"name"`
		Timezone           string `json:"timezone"`
		TextReminderNumber string `json:"text_reminder_number"`
		Rescheduled        bool   `json:"rescheduled"`
		ScheduledEvent     struct {
			URI     string     `json:"uri"`
			Name    string     `json:"name"` // the event type's name: the service
			EndTime *time.Time `json:"end_time"`
		} `json:"scheduled_event"`
		QuestionsAndAnswers []struct {
			Question string `json:"question"`
			Answer   string `json:"answer"`
		} `json:"questions_and_answers"`
	} `json:"payload"`
}

// Verify checks Calendly-Webhook-Signature and its age.
func (Calendly) Verify(r Request, now time.Time) error {
	var ts, sig string
	for part := range strings.SplitSeq(r.Header.Get("Calendly-Webhook-Signature"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if age := now.Sub(time.Unix(sec, 0)); age > CalendlyTolerance || age < -CalendlyTolerance {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, []byte(r.Settings.Secret))
	mac.Write([]byte(ts + "."))
	mac.Write(r.Body)
	if !signed(sig, hex.EncodeToString(mac.Sum(nil))) {
		return ErrBadSignature
	}
	return nil
}

// Map reads invitee.created and invitee.canceled. Calendly reports a
// reschedule as a cancellation with rescheduled=true of the old invitee
// and a creation of the new one; each maps on its own.
func (Calendly) Map(_ context.Context, r Request) ([]aftercare.SessionEvent, error) {
	var h calendlyHook
	if err := json.Unmarshal(r.Body, &h); err != nil {
		return nil, unmappable("body is not a Calendly webhook: %v", err)
	}
	p := h.Payload
	if p.URI == "" {
		return nil, unmappable("the invitee has no uri")
	}
	// One session per invitee: a group event has several.
	session := sessionID("calendly", path.Base(p.ScheduledEvent.URI), path.Base(p.URI))
	eventID := "calendly:" + h.Event + ":" + path.Base(p.URI) + ":" + h.CreatedAt
	switch h.Event {
	case "invitee.canceled":
		return []aftercare.SessionEvent{cancelled(eventID, session)}, nil
	case "invitee.created":
	default:
		return nil, &IgnoredError{Reason: "Calendly event " + h.Event + " does not start or end a session"}
	}
	if p.ScheduledEvent.EndTime == nil {
		return nil, unmappable("the scheduled event has no end_time")
	}
	candidates := []string{p.TextReminderNumber}
	for _, qa := range p.QuestionsAndAnswers {
		if q := strings.ToLower(qa.Question); strings.Contains(q, "phone") || strings.Contains(q, "mobile") {
			candidates = append(candidates, qa.Answer)
		}
	}
	number, err := r.clientPhone("no mobile number: turn on Calendly's text reminders or add a phone question", candidates...)
	if err != nil {
		return nil, err
	}
	client := aftercare.Client{Phone: number, Name: firstName(p.Name), TimeZone: p.Timezone}
	ev := completed(eventID, session, *p.ScheduledEvent.EndTime, client)
	ev.Service = aftercare.ServiceKey(p.ScheduledEvent.Name)
	booked, _ := time.Parse(time.RFC3339Nano, p.CreatedAt)
	for _, qa := range p.QuestionsAndAnswers {
		if c := formConsent("calendly", qa.Question, qa.Answer, booked); c != nil {
			ev.Consent = c
		}
	}
	return []aftercare.SessionEvent{ev}, nil
}

// firstName is the name used in greetings.
func firstName(name string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(name), " ")
	return first
}
