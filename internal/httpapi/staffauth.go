package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/staff"
)

type staffClinicKey struct{}

// staffRoleKey holds a staff token's role, for endpoints only admins use.
type staffRoleKey struct{}

// staffTokens lets a staff member's API token stand where the clinic's
// shared token does: it names the clinic and the person, so the handlers
// attribute what is done (aftercare.AuthorFrom). Any other bearer passes
// through to the handler's own check of the clinic's token.
func (s *SchedulerAPI) staffTokens(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if s.Staff == nil || !strings.HasPrefix(token, staff.APITokenPrefix) {
			h(w, r)
			return
		}
		a, err := s.Staff.ByAPIToken(r.Context(), token)
		if errors.Is(err, staff.ErrNoSession) {
			writeJSON(w, http.StatusUnauthorized, intake.ErrorResponse{Error: "unknown or revoked staff API token"})
			return
		}
		if err != nil {
			s.Log.Error("staff token", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, intake.ErrorResponse{Error: "temporarily unavailable; retry"})
			return
		}
		clinic, ok := s.Intake.Clinics.Lookup(a.ClinicID)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, intake.ErrorResponse{Error: "the token's clinic is no longer configured"})
			return
		}
		ctx := aftercare.WithAuthor(r.Context(), a.Author())
		ctx = context.WithValue(ctx, staffRoleKey{}, a.Role)
		h(w, r.WithContext(context.WithValue(ctx, staffClinicKey{}, clinic)))
	}
}

// clinicOf is the clinic a request acts for: a staff token's, set by
// staffTokens, else the one whose shared token it carries.
func (s *SchedulerAPI) clinicOf(r *http.Request) (*clinics.Clinic, error) {
	if c, ok := r.Context().Value(staffClinicKey{}).(*clinics.Clinic); ok {
		return c, nil
	}
	return s.Intake.Clinics.Authenticate(bearer(r))
}

// audit records what a staff token did, under its person; the clinic's
// shared token names no one, and its "by" stays in the record it changed.
func (s *SchedulerAPI) audit(r *http.Request, e staff.Entry) {
	who, ok := aftercare.AuthorFrom(r.Context())
	if !ok || s.Audit == nil {
		return
	}
	e.Author = who
	if err := s.Audit.Record(r.Context(), e); err != nil {
		s.Log.Error("audit entry not recorded", "action", e.Action, "kind", e.Kind, "err", err)
	}
}
