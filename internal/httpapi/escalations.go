package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/staff"
)

// EscalationList is a clinic's escalations.
type EscalationList struct {
	Escalations []aftercare.Escalation `json:"escalations"`
}

// EscalationAction is the optional body of acknowledge and resolve.
type EscalationAction struct {
	By   string `json:"by"`   // who at the clinic, for the record
	Note string `json:"note"` // what was done
}

// errTransition is a change an escalation's status does not allow.
type errTransition struct{ from, to aftercare.EscalationStatus }

func (e *errTransition) Error() string {
	return fmt.Sprintf("escalation is %s; it cannot be %s", e.from, e.to)
}

// listEscalations: GET /v1/escalations?status=open|acknowledged|resolved|all
// (default: open and acknowledged, the ones still needing attention).
func (s *SchedulerAPI) listEscalations(w http.ResponseWriter, r *http.Request) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	want := r.URL.Query().Get("status")
	switch aftercare.EscalationStatus(want) {
	case "", "all", aftercare.EscalationOpen, aftercare.EscalationAcknowledged, aftercare.EscalationResolved:
	default:
		writeJSON(w, http.StatusBadRequest, intake.ErrorResponse{Error: "status must be open, acknowledged, resolved or all"})
		return
	}
	all, err := s.Store.Escalations(r.Context(), clinic.ID)
	if err != nil {
		s.writeEscalationError(w, err)
		return
	}
	out := EscalationList{Escalations: []aftercare.Escalation{}}
	for _, e := range all {
		if want == "all" || string(e.Status) == want || (want == "" && e.Status != aftercare.EscalationResolved) {
			out.Escalations = append(out.Escalations, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *SchedulerAPI) getEscalation(w http.ResponseWriter, r *http.Request) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	id, ok := pathID(w, r, "id", "escalation id")
	if !ok {
		return
	}
	// The clinic comes from the credential and is part of the key: another
	// clinic's escalation id is simply not found.
	e, _, err := s.Store.Escalation(r.Context(), clinic.ID, id)
	if err != nil {
		s.writeEscalationError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *SchedulerAPI) acknowledgeEscalation(w http.ResponseWriter, r *http.Request) {
	s.changeEscalation(w, r, aftercare.EscalationAcknowledged)
}

func (s *SchedulerAPI) resolveEscalation(w http.ResponseWriter, r *http.Request) {
	s.changeEscalation(w, r, aftercare.EscalationResolved)
}

// changeEscalation moves an escalation on: open to acknowledged, open or
// acknowledged to resolved. Repeating a change is harmless.
func (s *SchedulerAPI) changeEscalation(w http.ResponseWriter, r *http.Request, to aftercare.EscalationStatus) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	id, ok := pathID(w, r, "id", "escalation id")
	if !ok {
		return
	}
	action, err := decodeAction(w, r)
	if err != nil {
		s.writeEscalationError(w, err)
		return
	}
	if who, ok := aftercare.AuthorFrom(r.Context()); ok {
		action.By = who.Name // a staff token names the person; "by" cannot override it
	}
	note := action.Note
	now := s.Now()
	e, err := s.Store.UpdateEscalation(r.Context(), clinic.ID, id, func(e *aftercare.Escalation) error {
		switch {
		case e.Status == to:
			return errUnchangedStatus
		case e.Status == aftercare.EscalationResolved:
			return &errTransition{from: e.Status, to: to}
		}
		e.Status, e.UpdatedAt = to, now
		if to == aftercare.EscalationAcknowledged {
			e.AcknowledgedAt, e.AcknowledgedBy = now, action.By
		} else {
			e.ResolvedAt, e.ResolvedBy = now, action.By
			if e.AcknowledgedAt.IsZero() {
				e.AcknowledgedAt, e.AcknowledgedBy = now, action.By
			}
		}
		if action.Note != "" {
			e.Note = action.Note
		}
		return nil
	})
	if errors.Is(err, errUnchangedStatus) {
		err = nil
	}
	if err != nil {
		s.writeEscalationError(w, err)
		return
	}
	s.Log.Info("escalation "+string(to), "clinic", clinic.ID, "escalation", e.ID)
	verb := map[aftercare.EscalationStatus]string{aftercare.EscalationAcknowledged: "acknowledge", aftercare.EscalationResolved: "resolve"}[to]
	s.audit(r, staff.Entry{ClinicID: clinic.ID, Action: verb, Kind: "escalation", Target: e.ID, Note: note})
	s.audit(r, staff.Entry{ClinicID: clinic.ID, Action: verb, Kind: "conversation", Target: inbox.ConversationID(clinic.ID, e.ClientPhone), Note: e.ID + ": " + note})
	writeJSON(w, http.StatusOK, e)
}

var errUnchangedStatus = errors.New("status unchanged")

const maxActionBody = 8 << 10

func decodeAction(w http.ResponseWriter, r *http.Request) (EscalationAction, error) {
	var a EscalationAction
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActionBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return a, &intake.TooLargeError{Limit: tooBig.Limit}
	}
	if err != nil {
		return a, &intake.MalformedError{Reason: "could not read the body"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return a, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, &intake.MalformedError{Reason: "body must be JSON {\"by\": \"...\", \"note\": \"...\"}: " + err.Error()}
	}
	if len(a.By) > 100 || len(a.Note) > 2000 {
		return a, &intake.MalformedError{Reason: "by is limited to 100 characters, note to 2000"}
	}
	return a, nil
}

func (s *SchedulerAPI) writeEscalationError(w http.ResponseWriter, err error) {
	var tr *errTransition
	switch {
	case errors.As(err, &tr):
		writeJSON(w, http.StatusConflict, intake.ErrorResponse{Error: err.Error()})
	case errors.Is(err, aftercare.ErrNotFound):
		writeJSON(w, http.StatusNotFound, intake.ErrorResponse{Error: "no such escalation for this clinic"})
	default:
		status, resp := intake.Outcome(err)
		if status >= 500 {
			s.Log.Error("escalation request failed", "err", err)
			resp.Error = "temporarily unavailable; retry"
		}
		writeJSON(w, status, resp)
	}
}
