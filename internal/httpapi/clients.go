package httpapi

import (
	"net/http"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/staff"
)

// A clinic's requests about one client's data (GDPR articles 15 and 17):
// GET /v1/clients/{phone}/export and DELETE /v1/clients/{phone}. The number
// is in the path, so the answer and the audit entry name the conversation
// id or the masked number, never the number itself.

// clientAdmin is the clinic a request about a client's data acts for: its
// shared token, or a staff token of a clinic_admin (a clinician's token
// reads escalations; it does not export or erase the clinic's records).
func (s *SchedulerAPI) clientAdmin(w http.ResponseWriter, r *http.Request) (*clinics.Clinic, string, bool) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return nil, "", false
	}
	if role, ok := r.Context().Value(staffRoleKey{}).(staff.Role); ok && role != staff.ClinicAdmin {
		writeJSON(w, http.StatusForbidden, intake.ErrorResponse{Error: "only the clinic's token or a clinic_admin's staff token may export or erase a client's data; this token is a " + string(role) + "'s"})
		return nil, "", false
	}
	phone := r.PathValue("phone")
	if !aftercare.ValidPhone(phone) {
		const problem = "must be an E.164 number: a plus sign, country code and number, such as +447700900123 (write + as %2B if your client encodes it)"
		writeJSON(w, http.StatusBadRequest, intake.ErrorResponse{Error: "phone in the URL path " + problem,
			Problems: []aftercare.Problem{{Field: "phone", Message: problem}}})
		return nil, "", false
	}
	return clinic, phone, true
}

func (s *SchedulerAPI) exportClient(w http.ResponseWriter, r *http.Request) {
	clinic, phone, ok := s.clientAdmin(w, r)
	if !ok {
		return
	}
	x, err := s.Erasure.Export(r.Context(), clinic.ID, phone)
	if err != nil {
		s.unavailable(w, "export", err)
		return
	}
	if x.Empty() {
		writeJSON(w, http.StatusNotFound, intake.ErrorResponse{Error: "nothing is held about this number at this clinic"})
		return
	}
	s.auditClient(r, clinic.ID, phone, "export", "")
	writeJSON(w, http.StatusOK, x)
}

func (s *SchedulerAPI) eraseClient(w http.ResponseWriter, r *http.Request) {
	clinic, phone, ok := s.clientAdmin(w, r)
	if !ok {
		return
	}
	res, err := s.Erasure.Erase(r.Context(), clinic.ID, phone)
	if err != nil {
		// Every step is safe to repeat: the clinic sends the request again.
		s.unavailable(w, "erase", err)
		return
	}
	// The erasure records its own audit entry: it must be in before the
	// conversation's audit id goes.
	s.Log.Info("client erased", "clinic", clinic.ID, "client", aftercare.MaskPhone(phone), "kept", len(res.Kept))
	writeJSON(w, http.StatusOK, res)
}

func (s *SchedulerAPI) unavailable(w http.ResponseWriter, what string, err error) {
	s.Log.Error(what+" client failed", "err", err)
	writeJSON(w, http.StatusServiceUnavailable, intake.ErrorResponse{Error: "temporarily unable to " + what + " the client's data; retry (every step is safe to repeat)"})
}

// auditClient records an export or erasure under the conversation's id (a
// hash of clinic and number, as every conversation entry is), whoever made
// it: a staff token's person, or the clinic's shared token.
func (s *SchedulerAPI) auditClient(r *http.Request, clinic, phone, action, note string) {
	if s.Audit == nil {
		return
	}
	who, ok := aftercare.AuthorFrom(r.Context())
	if !ok {
		who = aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"}
	}
	e := staff.Entry{ClinicID: clinic, Author: who, Action: action, Kind: "conversation", Target: inbox.ConversationID(clinic, phone), Note: note}
	if err := s.Audit.Record(r.Context(), e); err != nil {
		s.Log.Error("audit entry not recorded", "action", action, "kind", e.Kind, "err", err)
	}
}
