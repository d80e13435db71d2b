package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/staff"
)

// EscalationList is a clinic's escalations.
type EscalationList struct {
	Escalations []aftercare.Escalation `json:"escalations"`
}

// EscalationAction is the body of acknowledge, resolve, notes and assign
// (optional for the first two).
type EscalationAction struct {
	By   string `json:"by"`   // who at the clinic, for the record (when no staff token names them)
	Note string `json:"note"` // what was done
	// AssignTo names the colleague an assignment gives the escalation to.
	AssignTo string `json:"assign_to,omitempty"`
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
			out.Escalations = append(out.Escalations, withHistory(e))
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
	writeJSON(w, http.StatusOK, withHistory(e))
}

func (s *SchedulerAPI) acknowledgeEscalation(w http.ResponseWriter, r *http.Request) {
	s.escalationAction(w, r, "acknowledge", func(ctx context.Context, clinic, id string, by aftercare.Author, a EscalationAction) (aftercare.Escalation, error) {
		return s.lifecycle().Acknowledge(ctx, clinic, id, by, a.Note)
	})
}

func (s *SchedulerAPI) resolveEscalation(w http.ResponseWriter, r *http.Request) {
	s.escalationAction(w, r, "resolve", func(ctx context.Context, clinic, id string, by aftercare.Author, a EscalationAction) (aftercare.Escalation, error) {
		return s.lifecycle().Resolve(ctx, clinic, id, by, a.Note)
	})
}

func (s *SchedulerAPI) noteEscalation(w http.ResponseWriter, r *http.Request) {
	s.escalationAction(w, r, "note", func(ctx context.Context, clinic, id string, by aftercare.Author, a EscalationAction) (aftercare.Escalation, error) {
		if strings.TrimSpace(a.Note) == "" {
			return aftercare.Escalation{}, &intake.MalformedError{Reason: "note is required: {\"by\": \"...\", \"note\": \"...\"}"}
		}
		return s.lifecycle().AddNote(ctx, clinic, id, by, a.Note)
	})
}

func (s *SchedulerAPI) assignEscalation(w http.ResponseWriter, r *http.Request) {
	s.escalationAction(w, r, "assign", func(ctx context.Context, clinic, id string, by aftercare.Author, a EscalationAction) (aftercare.Escalation, error) {
		if strings.TrimSpace(a.AssignTo) == "" {
			return aftercare.Escalation{}, &intake.MalformedError{Reason: "assign_to is required: the colleague's name"}
		}
		return s.lifecycle().Assign(ctx, clinic, id, by, aftercare.Author{Kind: aftercare.AuthorStaff, Name: a.AssignTo})
	})
}

// lifecycle is the escalation use case; a SchedulerAPI built without one
// (older tests) gets one on its store.
func (s *SchedulerAPI) lifecycle() *escalation.Lifecycle {
	if s.Escalations != nil {
		return s.Escalations
	}
	return &escalation.Lifecycle{Store: s.Store, Clinics: s.Intake.Clinics, Now: s.Now, Log: s.Log}
}

type escalationChange func(ctx context.Context, clinic, id string, by aftercare.Author, a EscalationAction) (aftercare.Escalation, error)

// escalationAction authenticates, reads the body, names the author and
// applies change. The author is the person authentication named (a staff
// token), else the integration token with the "by" it gave.
func (s *SchedulerAPI) escalationAction(w http.ResponseWriter, r *http.Request, verb string, change escalationChange) {
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
	by, named := aftercare.AuthorFrom(r.Context())
	if !named {
		by = aftercare.Author{Kind: aftercare.AuthorAPI, Name: action.By}
		if by.Name == "" {
			by.Name = "integration"
		}
	}
	e, err := change(r.Context(), clinic.ID, id, by, action)
	if err != nil {
		s.writeEscalationError(w, err)
		return
	}
	// Under the escalation only. An entry under the conversation too, at
	// the same instant by the same person, would link the conversation's
	// entries back to the client through the escalation, which outlives an
	// erasure and names them; the escalation's own history is what the
	// inbox shows on its card.
	s.audit(r, staff.Entry{ClinicID: clinic.ID, Action: verb, Kind: "escalation", Target: e.ID, Note: action.Note})
	writeJSON(w, http.StatusOK, withHistory(e))
}

// withHistory shows a record from before histories as an empty one, not null.
func withHistory(e aftercare.Escalation) aftercare.Escalation {
	if e.History == nil {
		e.History = []aftercare.EscalationEntry{}
	}
	return e
}

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
	if len(a.By) > 100 || len(a.Note) > 2000 || len(a.AssignTo) > 100 {
		return a, &intake.MalformedError{Reason: "by and assign_to are limited to 100 characters, note to 2000"}
	}
	return a, nil
}

func (s *SchedulerAPI) writeEscalationError(w http.ResponseWriter, err error) {
	var tr *aftercare.TransitionError
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
