package booking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Acuity takes Acuity Scheduling webhooks: a form-encoded body with action
// and id, and X-Acuity-Signature, the base64 HMAC-SHA256 of the body keyed
// with the account's API key. The appointment itself is read from Acuity's
// API with the user id and the same key.
type Acuity struct{ HTTP *http.Client }

// AcuityAPI is Acuity's API.
const AcuityAPI = "https://acuityscheduling.com"

type acuityAppointment struct {
	ID        int    `json:"id"`
	FirstName string `json:"firstName"`
	Phone     string `json:"phone"`
	Datetime  string `json:"datetime"` // 2026-11-24T15:00:00-0500
	Duration  string `json:"duration"` // minutes
	Timezone  string `json:"timezone"`
	Canceled  bool   `json:"canceled"`
	Type      string `json:"type"` // the appointment type's name: the service
	// DatetimeCreated is when the client booked: 2026-11-20T09:12:40-0000.
	DatetimeCreated string `json:"datetimeCreated"`
	// Forms are the intake forms' answers.
	Forms []struct {
		Values []struct {
			Name  string `json:"name"` // the question
			Value string `json:"value"`
		} `json:"values"`
	} `json:"forms"`
}

// Verify checks X-Acuity-Signature.
func (Acuity) Verify(r Request, _ time.Time) error {
	mac := hmac.New(sha256.New, []byte(r.Settings.Secret))
	mac.Write(r.Body)
	if !signed(r.Header.Get("X-Acuity-Signature"), base64.StdEncoding.EncodeToString(mac.Sum(nil))) {
		return ErrBadSignature
	}
	return nil
}

// Map reads scheduled, rescheduled, canceled and changed. A reschedule
// keeps the appointment id, so it replans the same session.
func (a Acuity) Map(ctx context.Context, r Request) ([]aftercare.SessionEvent, error) {
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return nil, unmappable("body is not form-encoded: %v", err)
	}
	action, id := form.Get("action"), form.Get("id")
	if _, err := strconv.Atoi(id); err != nil {
		return nil, unmappable("id %q is not an appointment id", id)
	}
	session := sessionID("acuity", id)
	switch action {
	case "canceled":
		return []aftercare.SessionEvent{cancelled("acuity:canceled:"+id, session)}, nil
	case "scheduled", "rescheduled", "changed":
	default:
		return nil, &IgnoredError{Reason: "Acuity action " + action + " does not start or end a session"}
	}
	base := strings.TrimSuffix(r.Settings.APIBaseURL, "/")
	if base == "" {
		base = AcuityAPI
	}
	var appt acuityAppointment
	auth := func(req *http.Request) { req.SetBasicAuth(r.Settings.APIUserID, r.Settings.Secret) }
	if err := getJSON(ctx, a.HTTP, base+"/api/v1/appointments/"+id, auth, &appt); err != nil {
		return nil, err
	}
	if appt.Canceled {
		return []aftercare.SessionEvent{cancelled("acuity:canceled:"+id, session)}, nil
	}
	start, err := time.Parse("2006-01-02T15:04:05-0700", appt.Datetime)
	minutes, merr := strconv.Atoi(appt.Duration)
	if err != nil || merr != nil || minutes <= 0 {
		return nil, unmappable("no end time: appointment datetime %q and duration %q", appt.Datetime, appt.Duration)
	}
	end := start.Add(time.Duration(minutes) * time.Minute)
	number, err := r.clientPhone("no mobile number on the Acuity appointment: make the phone field required", appt.Phone)
	if err != nil {
		return nil, err
	}
	// The event id carries the time, so a repeat of the same webhook is a
	// duplicate while a move is a new event.
	eventID := "acuity:" + action + ":" + id + ":" + end.UTC().Format(time.RFC3339)
	ev := completed(eventID, session, end, aftercare.Client{Phone: number, Name: appt.FirstName, TimeZone: appt.Timezone})
	booked, _ := time.Parse("2006-01-02T15:04:05-0700", appt.DatetimeCreated)
	for _, f := range appt.Forms {
		for _, v := range f.Values {
			if c := formConsent("acuity", v.Name, v.Value, booked); c != nil {
				ev.Consent = c
			}
		}
	}
	ev.Service = aftercare.ServiceKey(appt.Type)
	return []aftercare.SessionEvent{ev}, nil
}
