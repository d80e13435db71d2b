package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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

// ConsentChange is an entry the clinic records through the API: a consent
// it took (on paper, by phone), or an opt-out or opt-in a client gave it
// other than by text. at defaults to now, channel to "api", source to the
// staff member (or "api").
type ConsentChange struct {
	Kind aftercare.ConsentKind `json:"kind"`
	aftercare.Consent
}

// postConsent: POST /v1/clients/{phone}/consent. An opt-out stops the
// client's texts at once, as STOP does; an opt-in lifts it, as START does.
func (s *SchedulerAPI) postConsent(w http.ResponseWriter, r *http.Request) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	phone, ok := consentPhone(w, r, clinic)
	if !ok {
		return
	}
	var c ConsentChange
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActionBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.writeError(w, &intake.TooLargeError{Limit: tooBig.Limit})
		return
	case err != nil:
		s.writeError(w, &intake.MalformedError{Reason: "could not read the body"})
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		s.writeError(w, &intake.MalformedError{Reason: `body must be JSON {"kind": "given|opt_out|opt_in", "at", "channel", "wording", "source"}: ` + err.Error()})
		return
	}
	now := s.Now()
	if c.At.IsZero() {
		c.At = now
	}
	if c.Channel == "" {
		c.Channel = aftercare.ChannelAPI
	}
	if c.Source == "" {
		c.Source = aftercare.ChannelAPI
		if a, ok := aftercare.AuthorFrom(r.Context()); ok && a.Name != "" {
			c.Source = a.Name
		}
	}
	err = c.Validate(now)
	switch c.Kind {
	case aftercare.ConsentGiven, aftercare.ConsentOptOut, aftercare.ConsentOptIn:
	default:
		kind := &aftercare.ValidationError{Problems: []aftercare.Problem{{Field: "kind", Message: "must be one of given, opt_out, opt_in"}}}
		var v *aftercare.ValidationError
		if errors.As(err, &v) {
			kind.Problems = append(kind.Problems, v.Problems...)
		}
		err = kind
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	if c.Kind != aftercare.ConsentOptOut {
		// What an erasure under way would erase is not written: the
		// erasure's passes could end before it lands. An opt-out is taken,
		// as a STOP is, and the erasure keeps it.
		job, err := s.Store.Erasing(r.Context(), clinic.ID, phone)
		if err == nil && job != "" {
			err = &intake.ErasingError{Job: job, Consent: true}
		}
		if err != nil {
			s.writeError(w, err)
			return
		}
	}
	entry := c.Entry("", now)
	entry.Kind = c.Kind
	if c.Kind == aftercare.ConsentGiven {
		err = s.Store.AddConsent(r.Context(), clinic.ID, phone, entry, now)
	} else {
		err = s.Store.RecordOptOut(r.Context(), clinic.ID, phone, entry, now)
	}
	if err != nil {
		s.writeError(w, err)
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

// consentPhone reads the phone in the URL path as a session event's is read
// (E.164, or national in the clinic's first allowed country); a number the
// clinic may not text is 400 naming it.
func consentPhone(w http.ResponseWriter, r *http.Request, clinic *clinics.Clinic) (string, bool) {
	return pathPhone(w, r, clinic.Phones.Textable)
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
	phone, ok := consentPhone(w, r, clinic)
	if !ok {
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
