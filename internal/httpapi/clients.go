package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/staff"
)

// A clinic's requests about one client's data (GDPR articles 15 and 17):
// GET /v1/clients/{phone}/export, DELETE /v1/clients/{phone} (which queues
// the erasure) and GET /v1/erasures/{id} (its state and answer). The number
// is in the path, so the answer and the audit entry name the conversation
// id or the masked number, never the number itself.

// clientAdmin is the clinic a request about a client's data acts for: its
// shared token, or a staff token of a clinic_admin (a clinician's token
// reads escalations; it does not export or erase the clinic's records).
func (s *SchedulerAPI) clientAdmin(w http.ResponseWriter, r *http.Request) (*clinics.Clinic, string, bool) {
	clinic, ok := s.dataAdmin(w, r)
	if !ok {
		return nil, "", false
	}
	// Read as the intake reads a session's number (libphonenumber, national
	// in the clinic's first country), so the export, the tombstone and the
	// job name the number the data is stored under: "+4407700900126" is
	// +447700900126. Number, not Textable: a number the clinic may no
	// longer text (a country it dropped) still has its data erased.
	phone, ok := pathPhone(w, r, clinic.Phones.Number)
	if !ok {
		return nil, "", false
	}
	return clinic, phone, true
}

// pathPhone reads the number in the URL path with read (one of the clinic's
// phone.Rules); one that cannot be read is a 400 naming why.
func pathPhone(w http.ResponseWriter, r *http.Request, read func(string) (string, error)) (string, bool) {
	phone, err := read(r.PathValue("phone"))
	if err != nil {
		problem := err.Error() + " (give it as the clinic's sessions do, such as +447700900123; write + as %2B if your client encodes it)"
		writeJSON(w, http.StatusBadRequest, intake.ErrorResponse{Error: "phone in the URL path " + problem,
			Problems: []aftercare.Problem{{Field: "phone", Message: problem}}})
		return "", false
	}
	return phone, true
}

func (s *SchedulerAPI) dataAdmin(w http.ResponseWriter, r *http.Request) (*clinics.Clinic, bool) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return nil, false
	}
	if role, ok := r.Context().Value(staffRoleKey{}).(staff.Role); ok && role != staff.ClinicAdmin {
		writeJSON(w, http.StatusForbidden, intake.ErrorResponse{Error: "only the clinic's token or a clinic_admin's staff token may export or erase a client's data; this token is a " + string(role) + "'s"})
		return nil, false
	}
	return clinic, true
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
	s.auditClient(r, clinic.ID, phone, "export", x.HoldsConversation())
	writeJSON(w, http.StatusOK, x)
}

// ErasureAccepted is the answer to DELETE /v1/clients/{phone}: the
// erasure is queued; GET its status_url for its state and, once done,
// what it erased and kept.
type ErasureAccepted struct {
	JobID     string            `json:"job_id"`
	Status    erasure.JobStatus `json:"status"`
	StatusURL string            `json:"status_url"`
	Client    string            `json:"client_phone"` // masked
}

func (s *SchedulerAPI) eraseClient(w http.ResponseWriter, r *http.Request) {
	clinic, phone, ok := s.clientAdmin(w, r)
	if !ok {
		return
	}
	by, named := aftercare.AuthorFrom(r.Context())
	if !named {
		by = aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"}
	}
	job, err := s.ErasureJobs.Request(r.Context(), clinic.ID, phone, by)
	if err != nil {
		// Every step is safe to repeat: the clinic sends the request again.
		s.unavailable(w, "erase", err)
		return
	}
	s.Log.Info("client erasure queued", "clinic", clinic.ID, "job", job.ID, "client", job.Client)
	url := "/v1/erasures/" + job.ID
	w.Header().Set("Location", url)
	writeJSON(w, http.StatusAccepted, ErasureAccepted{JobID: job.ID, Status: job.Status, StatusURL: url, Client: job.Client})
}

// ErasureStatus is the answer to GET /v1/erasures/{id}: the job, and once
// it is done the erasure's answer (what was erased, what kept and why)
// in the same fields the synchronous DELETE used to answer with.
type ErasureStatus struct {
	JobID       string            `json:"job_id"`
	Status      erasure.JobStatus `json:"status"`
	RequestedAt time.Time         `json:"requested_at"`
	DoneAt      time.Time         `json:"done_at,omitzero"`
	Attempts    int               `json:"attempts"`
	*erasure.Result
}

func (s *SchedulerAPI) erasureJob(w http.ResponseWriter, r *http.Request) {
	clinic, ok := s.dataAdmin(w, r)
	if !ok {
		return
	}
	id, ok := pathID(w, r, "id", "erasure job id")
	if !ok {
		return
	}
	job, err := s.ErasureJobs.Job(r.Context(), clinic.ID, id)
	if errors.Is(err, aftercare.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, intake.ErrorResponse{Error: "no erasure job " + id + " at this clinic"})
		return
	}
	if err != nil {
		s.unavailable(w, "read the erasure of", err)
		return
	}
	// Until it is done, the answer is the job's state alone.
	writeJSON(w, http.StatusOK, ErasureStatus{JobID: job.ID, Status: job.Status, RequestedAt: job.RequestedAt, DoneAt: job.DoneAt, Attempts: job.Attempts, Result: job.Result})
}

func (s *SchedulerAPI) unavailable(w http.ResponseWriter, what string, err error) {
	s.Log.Error(what+" client failed", "err", err)
	writeJSON(w, http.StatusServiceUnavailable, intake.ErrorResponse{Error: "temporarily unable to " + what + " the client's data; retry (every step is safe to repeat)"})
}

// auditClient records an export under the conversation's audit id, whoever
// made it: a staff token's person, or the clinic's shared token. held says
// whether the conversation is still held; when it is not (after an
// erasure) and has no audit id, the entry names no client
// (staff.Audit.RecordAboutClient), so reading what was kept writes nothing
// that links the number again.
func (s *SchedulerAPI) auditClient(r *http.Request, clinic, phone, action string, held bool) {
	if s.Audit == nil {
		return
	}
	who, ok := aftercare.AuthorFrom(r.Context())
	if !ok {
		who = aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"}
	}
	e := staff.Entry{ClinicID: clinic, Author: who, Action: action, Kind: staff.KindConversation, Target: inbox.ConversationID(clinic, phone)}
	if err := s.Audit.RecordAboutClient(r.Context(), e, held); err != nil {
		s.Log.Error("audit entry not recorded", "action", action, "kind", e.Kind, "err", err)
	}
}
