package booking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Mindbody takes Mindbody Webhooks API events. X-Mindbody-Signature is
// "sha256=" and the base64 HMAC-SHA256 of the raw body, keyed with the
// subscription's messageSignatureKey.
type Mindbody struct{}

type mindbodyHook struct {
	MessageID string `json:"messageId"`
	EventID   string `json:"eventId"`
	EventData struct {
		SiteID          json.Number `json:"siteId"`
		AppointmentID   json.Number `json:"appointmentId"`
		Status          string      `json:"status"`
		ClientFirstName string      `json:"clientFirstName"`
		ClientPhone     string      `json:"clientPhone"`
		StartDateTime   string      `json:"startDateTime"`
		EndDateTime     string      `json:"endDateTime"`
		DurationMinutes *int        `json:"durationMinutes"`
		AppointmentName string      `json:"appointmentName"` // the session type's name: the service
	} `json:"eventData"`
}

// Verify checks X-Mindbody-Signature.
func (Mindbody) Verify(r Request, _ time.Time) error {
	mac := hmac.New(sha256.New, []byte(r.Settings.Secret))
	mac.Write(r.Body)
	if !signed(r.Header.Get("X-Mindbody-Signature"), "sha256="+base64.StdEncoding.EncodeToString(mac.Sum(nil))) {
		return ErrBadSignature
	}
	return nil
}

// Statuses after which no follow-up is wanted.
var mindbodyGone = map[string]bool{"cancelled": true, "canceled": true, "latecancelled": true, "noshow": true, "missed": true}

// Map reads appointmentBooking.created, .updated and .cancelled. Mindbody
// gives local times without an offset: they are read in the site's zone.
func (Mindbody) Map(_ context.Context, r Request) ([]aftercare.SessionEvent, error) {
	var h mindbodyHook
	if err := json.Unmarshal(r.Body, &h); err != nil {
		return nil, unmappable("body is not a Mindbody webhook: %v", err)
	}
	d := h.EventData
	if d.AppointmentID == "" {
		return nil, unmappable("the event names no appointmentId")
	}
	session := sessionID("mindbody", d.SiteID.String(), d.AppointmentID.String())
	eventID := "mindbody:" + h.MessageID
	if h.MessageID == "" {
		eventID = "mindbody:" + h.EventID + ":" + d.SiteID.String() + ":" + d.AppointmentID.String() + ":" + d.Status + ":" + d.EndDateTime
	}
	switch {
	case h.EventID == "appointmentBooking.cancelled" || mindbodyGone[strings.ToLower(d.Status)]:
		return []aftercare.SessionEvent{cancelled(eventID, session)}, nil
	case h.EventID == "appointmentBooking.created" || h.EventID == "appointmentBooking.updated":
	default:
		return nil, &IgnoredError{Reason: "Mindbody event " + h.EventID + " does not start or end a session"}
	}
	end, err := mindbodyEnd(d.StartDateTime, d.EndDateTime, d.DurationMinutes, r.Location)
	if err != nil {
		return nil, err
	}
	number, err := r.clientPhone("no mobile number on the client's Mindbody profile", d.ClientPhone)
	if err != nil {
		return nil, err
	}
	ev := completed(eventID, session, end, aftercare.Client{Phone: number, Name: d.ClientFirstName})
	ev.Service = aftercare.ServiceKey(d.AppointmentName)
	return []aftercare.SessionEvent{ev}, nil
}

const mindbodyLayout = "2006-01-02T15:04:05"

func mindbodyEnd(start, end string, minutes *int, loc *time.Location) (time.Time, error) {
	if end != "" {
		if t, err := parseLocal(end, loc); err == nil {
			return t, nil
		}
		return time.Time{}, unmappable("endDateTime %q is not a date and time", end)
	}
	if start != "" && minutes != nil {
		t, err := parseLocal(start, loc)
		if err != nil {
			return time.Time{}, unmappable("startDateTime %q is not a date and time", start)
		}
		return t.Add(time.Duration(*minutes) * time.Minute), nil
	}
	return time.Time{}, unmappable("no end time: neither endDateTime nor startDateTime with durationMinutes")
}

// parseLocal reads a time with an offset as given, one without in loc.
func parseLocal(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation(mindbodyLayout, strings.TrimSuffix(s, ".000"), loc)
}
