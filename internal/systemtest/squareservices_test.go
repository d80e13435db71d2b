package systemtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/httpapi"
)

// Square's booking names its services by variation id only: harbour maps
// the booking's first segment's id to deep tissue in its clinics file
// (booking.square.services), so the session booked through Square's
// webhook gets harbour's deep-tissue texts, and GET /v1/sessions/{id}
// shows its service.
func TestSquareServiceVariationPicksTheTexts(t *testing.T) {
	t.Parallel()
	s := setup(t, "1s,2s,3s")
	sm := samples{end: time.Now().Truncate(time.Second)}
	sm.start = sm.end.Add(-time.Hour)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/customers/EX2QSVGTZN4K1E5QE1CBFNVQ8M" && r.Header.Get("Authorization") == "Bearer "+squareToken:
			_, _ = w.Write(sm.load(t, "square_customer.json", "900641"))
		case r.URL.Path == "/v2/locations/L8GWT3TBYYPY9" && r.Header.Get("Authorization") == "Bearer "+squareToken:
			_, _ = w.Write(sm.load(t, "square_location.json", ""))
		default:
			http.Error(w, "not found", http.StatusNotFound)
		}
	}))
	t.Cleanup(api.Close)
	var doc struct {
		Clinics []map[string]any `json:"clinics"`
	}
	if err := json.Unmarshal([]byte(fmt.Sprintf(textsClinicJSON, s.clinic.URL, "Reply STOP to opt out")), &doc); err != nil {
		t.Fatal(err)
	}
	doc.Clinics[0]["booking"] = map[string]any{"square": map[string]any{"secret_env": "BOOKING_KEY", "notification_url": squareHook,
		"api_base_url": api.URL, "api_token_env": "SQUARE_TOKEN", "services": map[string]string{"GUN7HNQBH7ZRARYZN52E7O4B": "Deep tissue"}}}
	raw, _ := json.Marshal(doc)
	if err := os.WriteFile(s.clinics, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	scheduler := s.start("scheduler", "BOOKING_KEY="+bookingSecret, "SQUARE_TOKEN="+squareToken)
	s.start("worker")
	s.bookingHook(t, scheduler, "square", sm.load(t, "square_booking_created.json", "900641"))

	texts := s.messagesTo("+447700900641", 3, 20*time.Second)
	if len(texts) != 3 {
		t.Fatalf("%d texts, want 3", len(texts))
	}
	for i, m := range texts {
		if !strings.Contains(m.Body, fmt.Sprintf("deep tissue day %d", i+1)) {
			t.Errorf("text %d is not harbour's deep-tissue text: %q", i+1, m.Body)
		}
	}
	var view httpapi.SessionView
	if status := s.getJSON(scheduler, "/v1/sessions/square:zkras0xv0xwswx", token, &view); status != http.StatusOK || view.Service != "deep_tissue" {
		t.Errorf("GET the session: %d, service %q, want deep_tissue", status, view.Service)
	}
}
