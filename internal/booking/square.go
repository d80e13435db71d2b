package booking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Square takes Square Appointments webhooks. x-square-hmacsha256-signature
// is the base64 HMAC-SHA256, keyed with the subscription's signature key,
// of the notification URL (exactly as configured in Square) followed by the
// raw body. The booking carries ids only: the client's phone comes from the
// Customers API and the location's zone from the Locations API.
type Square struct{ HTTP *http.Client }

// SquareAPI is Square's production API.
const SquareAPI = "https://connect.squareup.com"

// squareVersion pins the API version the mapping was written against.
const squareVersion = "2025-10-16"

type squareHook struct {
	Type    string `json:"type"`
	EventID string `json:"event_id"`
	Data    struct {
		Object struct {
			Booking struct {
				ID                  string     `json:"id"`
				Version             int        `json:"version"`
				Status              string     `json:"status"`
				StartAt             *time.Time `json:"start_at"`
				LocationID          string     `json:"location_id"`
				CustomerID          string     `json:"customer_id"`
				AppointmentSegments []struct {
					DurationMinutes    int    `json:"duration_minutes"`
					ServiceVariationID string `json:"service_variation_id"`
				} `json:"appointment_segments"`
			} `json:"booking"`
		} `json:"object"`
	} `json:"data"`
}

// Verify checks x-square-hmacsha256-signature.
func (Square) Verify(r Request, _ time.Time) error {
	mac := hmac.New(sha256.New, []byte(r.Settings.Secret))
	mac.Write([]byte(r.Settings.NotificationURL))
	mac.Write(r.Body)
	if !signed(r.Header.Get("X-Square-Hmacsha256-Signature"), base64.StdEncoding.EncodeToString(mac.Sum(nil))) {
		return ErrBadSignature
	}
	return nil
}

// Map reads booking.created and booking.updated: ACCEPTED plans follow-ups
// from the end (start_at plus the segments' durations); a cancellation,
// decline or no-show cancels them; PENDING waits for the seller.
func (s Square) Map(ctx context.Context, r Request) ([]aftercare.SessionEvent, error) {
	var h squareHook
	if err := json.Unmarshal(r.Body, &h); err != nil {
		return nil, unmappable("body is not a Square webhook: %v", err)
	}
	if h.Type != "booking.created" && h.Type != "booking.updated" {
		return nil, &IgnoredError{Reason: "Square event " + h.Type + " is not about a booking"}
	}
	b := h.Data.Object.Booking
	if b.ID == "" {
		return nil, unmappable("the event carries no booking id")
	}
	session := sessionID("square", b.ID)
	eventID := "square:" + h.EventID
	switch {
	case b.Status == "ACCEPTED":
	case b.Status == "PENDING":
		return nil, &IgnoredError{Reason: "booking is PENDING the seller's acceptance"}
	case strings.HasPrefix(b.Status, "CANCELLED") || b.Status == "DECLINED" || b.Status == "NO_SHOW":
		return []aftercare.SessionEvent{cancelled(eventID, session)}, nil
	default:
		return nil, &IgnoredError{Reason: "booking status " + b.Status}
	}
	minutes := 0
	for _, seg := range b.AppointmentSegments {
		minutes += seg.DurationMinutes
	}
	if b.StartAt == nil || minutes == 0 {
		return nil, unmappable("no end time: the booking needs start_at and appointment segments with duration_minutes")
	}
	end := b.StartAt.Add(time.Duration(minutes) * time.Minute)
	if b.CustomerID == "" {
		return nil, unmappable("the booking has no customer_id, so no phone number")
	}
	base := strings.TrimSuffix(r.Settings.APIBaseURL, "/")
	if base == "" {
		base = SquareAPI
	}
	auth := func(req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+r.Settings.APIToken)
		req.Header.Set("Square-Version", squareVersion)
	}
	var customer struct {
		Customer struct {
			GivenName   string `json:"given_name"`
			PhoneNumber string `json:"phone_number"`
		} `json:"customer"`
	}
	if err := getJSON(ctx, s.HTTP, base+"/v2/customers/"+url.PathEscape(b.CustomerID), auth, &customer); err != nil {
		return nil, err
	}
	number, err := r.clientPhone("no mobile number on the Square customer", customer.Customer.PhoneNumber)
	if err != nil {
		return nil, err
	}
	client := aftercare.Client{Phone: number, Name: customer.Customer.GivenName}
	if b.LocationID != "" {
		var loc struct {
			Location struct {
				Timezone string `json:"timezone"`
			} `json:"location"`
		}
		if err := getJSON(ctx, s.HTTP, base+"/v2/locations/"+url.PathEscape(b.LocationID), auth, &loc); err != nil {
			return nil, err
		}
		client.TimeZone = loc.Location.Timezone
	}
	ev := completed(eventID, session, end, client)
	// The booking names its services by variation id only; the clinic's
	// services setting names them. None named: the default texts.
	for _, seg := range b.AppointmentSegments {
		if name, ok := r.Settings.Services[seg.ServiceVariationID]; ok {
			ev.Service = aftercare.ServiceKey(name)
			break
		}
	}
	return []aftercare.SessionEvent{ev}, nil
}
