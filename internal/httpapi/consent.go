package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/intake"
)

// ConsentView is a client's consent to a clinic's texts as the clinic sees
// it: every agreement, opt-out and opt-in, oldest first, and where they
// stand now.
type ConsentView struct {
	// ClientPhone is given by GET /v1/clients/{phone}/consent; a session's
	// view leaves it out (its phone is masked there).
	ClientPhone string `json:"client_phone,omitempty"`
	// Consented: the latest entry is an agreement or an opt-in.
	Consented bool `json:"consented"`
	// OptedOut: no texts go to the client (STOP, or the carrier said so).
	OptedOut bool `json:"opted_out"`
	// Required: the clinic texts only clients who consented.
	Required bool                     `json:"required"`
	Entries  []aftercare.ConsentEntry `json:"entries"`
}

// consentOf reads a client's consent record; none recorded is an empty one.
func (s *SchedulerAPI) consentOf(ctx context.Context, clinic *clinics.Clinic, phone string) (ConsentView, error) {
	rec, err := s.Store.Consent(ctx, clinic.ID, phone)
	if err != nil && !errors.Is(err, aftercare.ErrNotFound) {
		return ConsentView{}, err
	}
	out, err := s.Store.OptedOut(ctx, clinic.ID, phone)
	if err != nil {
		return ConsentView{}, err
	}
	entries := rec.Entries
	if entries == nil {
		entries = []aftercare.ConsentEntry{}
	}
	return ConsentView{Consented: rec.Consented(), OptedOut: out, Required: clinic.RequireConsent, Entries: entries}, nil
}

// getConsent: GET /v1/clients/{phone}/consent. The phone is read as a
// session event's is (E.164, or national in the clinic's first allowed
// country); the clinic comes from the credential and is part of the key.
func (s *SchedulerAPI) getConsent(w http.ResponseWriter, r *http.Request) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	phone, err := clinic.Phones.Textable(r.PathValue("phone"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, intake.ErrorResponse{
			Error:    "phone in the URL path " + err.Error(),
			Problems: []aftercare.Problem{{Field: "phone", Message: err.Error()}},
		})
		return
	}
	view, err := s.consentOf(r.Context(), clinic, phone)
	if err != nil {
		s.writeError(w, err)
		return
	}
	view.ClientPhone = phone
	writeJSON(w, http.StatusOK, view)
}
