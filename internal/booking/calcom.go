package booking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// CalCom takes Cal.com webhooks: X-Cal-Signature-256 is the hex
// HMAC-SHA256 of the raw body, keyed with the webhook's secret.
type CalCom struct{}

type calcomHook struct {
	TriggerEvent string        `json:"triggerEvent"`
	CreatedAt    string        `json:"createdAt"`
	Payload      calcomBooking `json:"payload"`
}

type calcomBooking struct {
	UID               string           `json:"uid"`
	Type              string           `json:"type"` // the event type's slug: the service
	RescheduleUID     string           `json:"rescheduleUid"`
	StartTime         *time.Time       `json:"startTime"`
	EndTime           *time.Time       `json:"endTime"`
	SMSReminderNumber string           `json:"smsReminderNumber"`
	Attendees         []calcomAttendee `json:"attendees"`
	Responses         map[string]struct {
		Label string `json:"label"`
		Value any    `json:"value"`
	} `json:"responses"`
	CreatedAt string `json:"createdAt"` // when the client booked, where Cal.com says
}

type calcomAttendee struct {
	Name        string `json:"name"`
	TimeZone    string `json:"timeZone"`
	PhoneNumber string `json:"phoneNumber"`
	Language    struct {
		Locale string `json:"locale"`
	} `json:"language"`
}

// Verify checks X-Cal-Signature-256.
func (CalCom) Verify(r Request, _ time.Time) error {
	mac := hmac.New(sha256.New, []byte(r.Settings.Secret))
	mac.Write(r.Body)
	if !signed(r.Header.Get("X-Cal-Signature-256"), hex.EncodeToString(mac.Sum(nil))) {
		return ErrBadSignature
	}
	return nil
}

// Map reads MEETING_ENDED (the session's actual end), BOOKING_CREATED (the
// end it is booked for), BOOKING_CANCELLED, and BOOKING_RESCHEDULED, whose
// rescheduleUid names the booking it replaces.
func (CalCom) Map(_ context.Context, r Request) ([]aftercare.SessionEvent, error) {
	var h calcomHook
	if err := json.Unmarshal(r.Body, &h); err != nil {
		return nil, unmappable("body is not a Cal.com webhook: %v", err)
	}
	b := h.Payload
	eventID := "calcom:" + h.TriggerEvent + ":" + b.UID + ":" + h.CreatedAt
	session := sessionID("calcom", b.UID)
	switch h.TriggerEvent {
	case "BOOKING_CANCELLED":
		if b.UID == "" {
			return nil, unmappable("the cancellation names no booking uid")
		}
		return []aftercare.SessionEvent{cancelled(eventID, session)}, nil
	case "MEETING_ENDED", "BOOKING_CREATED", "BOOKING_RESCHEDULED":
	default:
		return nil, &IgnoredError{Reason: "Cal.com event " + h.TriggerEvent + " does not start or end a session"}
	}
	if b.UID == "" {
		return nil, unmappable("the booking has no uid")
	}
	if b.EndTime == nil {
		return nil, unmappable("the booking has no endTime")
	}
	client, err := calcomClient(b, r)
	if err != nil {
		return nil, err
	}
	ev := completed(eventID, session, *b.EndTime, client)
	ev.Service = aftercare.ServiceKey(b.Type)
	ev.Consent = calcomConsent(b, h.CreatedAt)
	events := []aftercare.SessionEvent{ev}
	if h.TriggerEvent == "BOOKING_RESCHEDULED" && b.RescheduleUID != "" && b.RescheduleUID != b.UID {
		// The old booking's plan goes; the new booking gets its own.
		events = append([]aftercare.SessionEvent{cancelled(eventID+":old", sessionID("calcom", b.RescheduleUID))}, events...)
	}
	return events, nil
}

// calcomConsent reads a booking question asking for agreement to texts
// (by its label, else its field name) answered yes; when the booking was
// made, else when the webhook was.
func calcomConsent(b calcomBooking, hookCreated string) *aftercare.Consent {
	at, err := time.Parse(time.RFC3339Nano, b.CreatedAt)
	if err != nil {
		at, _ = time.Parse(time.RFC3339Nano, hookCreated)
	}
	for _, key := range slices.Sorted(maps.Keys(b.Responses)) {
		r := b.Responses[key]
		question := r.Label
		if !consentQuestion(question) {
			question = key
		}
		if c := formConsent("calcom", question, r.Value, at); c != nil {
			return c
		}
	}
	return nil
}

// calcomClient finds the phone in smsReminderNumber, the attendee, or a
// booking question, and the zone and language from the attendee.
func calcomClient(b calcomBooking, r Request) (aftercare.Client, error) {
	var a calcomAttendee
	if len(b.Attendees) > 0 {
		a = b.Attendees[0]
	}
	candidates := []string{b.SMSReminderNumber, a.PhoneNumber}
	for _, key := range []string{"attendeePhoneNumber", "phone", "phoneNumber", "smsReminderNumber"} {
		if v, ok := b.Responses[key].Value.(string); ok {
			candidates = append(candidates, v)
		}
	}
	number, err := r.clientPhone("no mobile number: turn on Cal.com's SMS reminder or add a required phone question", candidates...)
	if err != nil {
		return aftercare.Client{}, err
	}
	return aftercare.Client{Phone: number, Name: firstName(a.Name), TimeZone: a.TimeZone, Locale: a.Language.Locale}, nil
}
