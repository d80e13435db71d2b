package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/staff"
	"github.com/aftercare/aftercare/internal/triage"
)

// ReplyForReview is a client's reply that triage could not read with
// confidence, as the clinic sees it. The phone is shown whole, as in an
// escalation: the clinic needs it to call the client back.
type ReplyForReview struct {
	MessageSID  string    `json:"message_sid"`
	ReceivedAt  time.Time `json:"received_at"`
	ClientPhone string    `json:"client_phone"`
	Body        string    `json:"body"`
	Class       string    `json:"class"`
	Reason      string    `json:"reason"`
	Score       *int      `json:"pain_score,omitempty"`
	SessionID   string    `json:"session_id,omitempty"`
	ReviewedAt  time.Time `json:"reviewed_at,omitzero"`
	ReviewedBy  string    `json:"reviewed_by,omitempty"`
	ReviewNote  string    `json:"review_note,omitempty"`
}

// ReplyList is a clinic's replies for review.
type ReplyList struct {
	Replies []ReplyForReview `json:"replies"`
}

func forReview(r aftercare.Reply) ReplyForReview {
	return ReplyForReview{
		MessageSID: r.MessageSID, ReceivedAt: r.ReceivedAt, ClientPhone: r.From, Body: r.Body, Class: r.Class, Reason: r.Reason,
		Score: r.Score, SessionID: r.SessionID, ReviewedAt: r.ReviewedAt, ReviewedBy: r.ReviewedBy, ReviewNote: r.ReviewNote,
	}
}

// errNotForReview: only replies triage put aside for a person are marked.
type errNotForReview struct{ class string }

func (e *errNotForReview) Error() string {
	return fmt.Sprintf("reply is %q, not %s; only replies that need review are marked reviewed", e.class, triage.NeedsReview)
}

// listReplies: GET /v1/replies?status=needs_review, the clinic's replies
// that need a person and nobody has marked reviewed, newest first. Until
// the staff inbox exists this is where they are read.
func (s *SchedulerAPI) listReplies(w http.ResponseWriter, r *http.Request) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if r.URL.Query().Get("status") != string(triage.NeedsReview) {
		writeJSON(w, http.StatusBadRequest, intake.ErrorResponse{Error: "status must be needs_review"})
		return
	}
	all, err := s.Store.Replies(r.Context(), clinic.ID)
	if err != nil {
		s.writeReplyError(w, err)
		return
	}
	out := ReplyList{Replies: []ReplyForReview{}}
	for _, rec := range all {
		if rec.Class == string(triage.NeedsReview) && rec.ReviewedAt.IsZero() {
			out.Replies = append(out.Replies, forReview(rec))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// markReviewed: POST /v1/replies/{message_sid}/reviewed with {"by", "note"}.
// Marking again changes nothing and answers as the first time did.
func (s *SchedulerAPI) markReviewed(w http.ResponseWriter, r *http.Request) {
	clinic, err := s.clinicOf(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	sid, ok := pathID(w, r, "message_sid", "message sid")
	if !ok {
		return
	}
	action, err := decodeAction(w, r)
	if err != nil {
		s.writeReplyError(w, err)
		return
	}
	if who, ok := aftercare.AuthorFrom(r.Context()); ok {
		action.By = who.Name // a staff token names the person
	}
	now := s.Now()
	// The clinic comes from the credential and is part of the key: another
	// clinic's reply is simply not found.
	rec, err := s.Store.UpdateReply(r.Context(), clinic.ID, sid, func(rec *aftercare.Reply) (bool, error) {
		if rec.Class != string(triage.NeedsReview) {
			return false, &errNotForReview{class: rec.Class}
		}
		return rec.MarkReviewed(action.By, action.Note, now), nil
	})
	if err != nil {
		s.writeReplyError(w, err)
		return
	}
	s.Log.Info("reply reviewed", "clinic", clinic.ID, "message_sid", rec.MessageSID)
	s.audit(r, staff.Entry{ClinicID: clinic.ID, Action: "reviewed", Kind: "conversation", Target: inbox.ConversationID(clinic.ID, rec.From),
		Note: action.Note}) // not the text's Twilio id: Twilio's logs name the number
	writeJSON(w, http.StatusOK, forReview(rec))
}

func (s *SchedulerAPI) writeReplyError(w http.ResponseWriter, err error) {
	var nr *errNotForReview
	switch {
	case errors.As(err, &nr):
		writeJSON(w, http.StatusConflict, intake.ErrorResponse{Error: err.Error()})
	case errors.Is(err, aftercare.ErrNotFound):
		writeJSON(w, http.StatusNotFound, intake.ErrorResponse{Error: "no such reply for this clinic"})
	default:
		status, resp := intake.Outcome(err)
		if status >= 500 {
			s.Log.Error("reply request failed", "err", err)
			resp.Error = "temporarily unavailable; retry"
		}
		writeJSON(w, status, resp)
	}
}
