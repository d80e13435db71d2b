package httpapi

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/booking"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/phone"
)

// BookingAnswer is the answer to a booking system's webhook.
type BookingAnswer struct {
	Accepted []intake.Accepted `json:"accepted,omitempty"`
	Ignored  string            `json:"ignored,omitempty"`
}

// bookingHook takes a booking system's own webhook at
// /v1/hooks/{system}/{clinic}: the URL a clinic pastes into its booking
// system. The signature, made with the key the clinic configured, decides
// whether it is believed; nothing is stored before it is checked.
func (s *SchedulerAPI) bookingHook(w http.ResponseWriter, r *http.Request) {
	system, clinicID := r.PathValue("system"), r.PathValue("clinic")
	adapter, ok := booking.For(system, s.BookingHTTP)
	if !ok {
		// The systems we take are public (the docs list them); clinics are not.
		writeJSON(w, http.StatusNotFound, intake.ErrorResponse{Error: "no such booking system: check the URL pasted into the booking system"})
		return
	}
	clinic, known := s.Intake.Clinics.Lookup(clinicID)
	var settings aftercare.BookingSystem
	if known {
		settings, known = clinic.Booking[system]
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max(s.Intake.MaxBody, 256<<10)))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.writeError(w, &intake.TooLargeError{Limit: tooBig.Limit})
		return
	}
	if err != nil {
		s.writeError(w, &intake.MalformedError{Reason: "could not read the body"})
		return
	}
	if !known {
		// A clinic that does not exist, or does not use this system, is
		// answered as a bad signature is, after the same work (a signature
		// checked, against a key no one has): neither the answer nor its
		// timing tells which clinic ids exist.
		_ = adapter.Verify(booking.Request{Header: r.Header, Body: body, Settings: decoySettings}, s.Now())
		s.refuseSignature(w, r, s.Log.With("system", system), booking.ErrBadSignature)
		return
	}
	req := booking.Request{Header: r.Header, Body: body, ClinicID: clinic.ID, Location: clinic.Location, Settings: settings,
		Phones: clinic.Phones}
	if settings.TimeZone != "" {
		req.Location = clinic.ClientLocation(settings.TimeZone)
	}
	if code, err := strconv.Atoi(settings.CountryCode); err == nil {
		req.Phones = clinic.Phones.NationalIn(phone.RegionOfCallingCode(code))
	}
	log := s.Log.With("clinic", clinic.ID, "system", system)
	if err := adapter.Verify(req, s.Now()); err != nil {
		s.refuseSignature(w, r, log, err)
		return
	}
	events, err := adapter.Map(r.Context(), req)
	var ignored *booking.IgnoredError
	var unmappable *booking.UnmappableError
	var upstream *booking.UpstreamError
	switch {
	case errors.As(err, &ignored):
		s.count("ignored")
		writeJSON(w, http.StatusOK, BookingAnswer{Ignored: ignored.Reason})
		return
	case errors.As(err, &unmappable):
		s.refuseBooking(w, r, clinic.ID, system, body, err.Error(), intake.ErrorResponse{Error: err.Error()})
		return
	case errors.As(err, &upstream):
		s.count("unavailable")
		log.Warn("booking system API failed", "err", err)
		writeJSON(w, http.StatusBadGateway, intake.ErrorResponse{Error: err.Error() + "; retry later"})
		return
	case err != nil:
		s.writeError(w, err)
		return
	}
	accs, err := s.Intake.SubmitEvents(r.Context(), clinic, events...)
	var invalid *aftercare.ValidationError
	if errors.As(err, &invalid) {
		_, resp := intake.Outcome(err)
		s.refuseBooking(w, r, clinic.ID, system, body, "cannot follow up this booking: "+invalid.Error(), resp)
		return
	}
	if err != nil {
		s.Intake.Results.Record(intake.Accepted{}, err)
		s.writeError(w, err)
		return
	}
	for _, acc := range accs {
		s.Intake.Results.Record(acc, nil)
	}
	writeJSON(w, http.StatusAccepted, BookingAnswer{Accepted: accs})
}

// decoySettings are checked against for a webhook to no configured clinic:
// a key made at start, never given to anyone.
var decoySettings = aftercare.BookingSystem{Secret: rand.Text(), NotificationURL: "https://decoy.invalid/"}

// refuseSignature answers a webhook whose signature did not verify, or that
// was sent to no configured clinic: the same 401 and body for both.
func (s *SchedulerAPI) refuseSignature(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	s.count("bad_signature")
	log.Warn("booking webhook refused", "remote", r.RemoteAddr, "err", err)
	writeJSON(w, http.StatusUnauthorized, intake.ErrorResponse{Error: err.Error() + ": check the URL and the signing key the clinic configured"})
}

// refuseBooking answers 422 with the reason and keeps the payload on
// deadletter.booking.<clinic>.<system>, so the clinic can see what was
// refused and why.
func (s *SchedulerAPI) refuseBooking(w http.ResponseWriter, r *http.Request, clinic, system string, body []byte, reason string, resp intake.ErrorResponse) {
	s.count("unmappable")
	if err := s.Store.DeadLetter(r.Context(), "booking", clinic+"."+system, body, reason); err != nil {
		s.Log.Error("could not record a refused booking", "clinic", clinic, "system", system, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, intake.ErrorResponse{Error: "temporarily unable to record the booking; retry"})
		return
	}
	s.Log.Info("booking refused", "clinic", clinic, "system", system, "reason", reason)
	writeJSON(w, http.StatusUnprocessableEntity, resp)
}

func (s *SchedulerAPI) count(outcome string) {
	if s.Intake.Results != nil {
		s.Intake.Results.Add(outcome)
	}
}
