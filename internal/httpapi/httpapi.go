// Package httpapi serves the programs' HTTP endpoints: the booking systems'
// session intake, session status for clinics, and health checks.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/staff"
)

// SchedulerAPI holds what the scheduler's handlers need.
type SchedulerAPI struct {
	Intake *intake.Service
	Store  *natsjs.Store
	Steps  int
	Ready  func() error
	// Live, when set, fails /healthz (liveness): NATS away too long.
	Live func() error
	Now  func() time.Time
	Log  *slog.Logger
	// Metrics serves /metrics; may be nil.
	Metrics http.Handler
	// BookingHTTP calls booking systems' APIs (Square, Acuity).
	BookingHTTP *http.Client
	// Escalations acknowledges, notes, assigns and resolves escalations.
	Escalations *escalation.Lifecycle
	// Staff resolves staff API tokens on /v1/escalations and /v1/replies;
	// nil: only the clinic's shared token is taken there.
	Staff *staff.Service
	// Audit records what staff tokens do; may be nil.
	Audit *staff.Audit
	// Inbox serves the staff inbox's pages under /inbox; nil: none.
	Inbox *inbox.Web
	// Erasure exports and erases a client's data; nil: no /v1/clients.
	Erasure *erasure.Service
	// ErasureJobs queues erasures and reads their state; nil: no DELETE
	// /v1/clients/{phone} nor /v1/erasures.
	ErasureJobs *erasure.Jobs
}

func bearer(r *http.Request) string {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return token
}

func (s *SchedulerAPI) postSession(w http.ResponseWriter, r *http.Request) {
	// Authenticate before reading the body: no work for a stranger.
	clinic, err := s.Intake.Clinics.Authenticate(bearer(r))
	if err != nil {
		s.Intake.Results.Record(intake.Accepted{}, err)
		s.writeError(w, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		if s.Intake.Results != nil {
			s.Intake.Results.Add("unsupported_media_type")
		}
		writeJSON(w, http.StatusUnsupportedMediaType, intake.ErrorResponse{Error: "Content-Type must be application/json"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.Intake.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		err = &intake.TooLargeError{Limit: tooBig.Limit}
	} else if err != nil {
		err = &intake.MalformedError{Reason: "could not read the body: " + err.Error()}
	}
	var acc intake.Accepted
	if err == nil {
		acc, err = s.Intake.Submit(r.Context(), clinic, body)
	}
	s.Intake.Results.Record(acc, err)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, acc)
}

// SessionView is a clinic's view of one session and its follow-ups.
type SessionView struct {
	SessionID string                  `json:"session_id"`
	Status    aftercare.SessionStatus `json:"status"`
	End       time.Time               `json:"session_end"`
	Client    string                  `json:"client_phone"` // masked
	// Service is the session's kind, which picked its texts; empty: none named.
	Service   string         `json:"service,omitempty"`
	FollowUps []FollowUpView `json:"follow_ups"`
	// Consent is the client's consent to the clinic's texts.
	Consent *ConsentView `json:"consent,omitempty"`
}

// FollowUpView is one follow-up as a clinic sees it.
type FollowUpView struct {
	Step       aftercare.Step           `json:"step"`
	Status     aftercare.FollowUpStatus `json:"status"`
	DueAt      time.Time                `json:"due_at,omitzero"`
	Reason     string                   `json:"reason,omitempty"`
	MessageSID string                   `json:"message_sid,omitempty"`
	SentAt     time.Time                `json:"sent_at,omitzero"`
}

func (s *SchedulerAPI) getSession(w http.ResponseWriter, r *http.Request) {
	clinic, err := s.Intake.Clinics.Authenticate(bearer(r))
	if err != nil {
		s.writeError(w, err)
		return
	}
	// The clinic comes from the credential only, so one clinic's token can
	// never name another clinic's session.
	id, ok := pathID(w, r, "session_id", "session_id")
	if !ok {
		return
	}
	rec, _, err := s.Store.Session(r.Context(), clinic.ID, id)
	if err != nil {
		s.writeError(w, err)
		return
	}
	fus, err := s.Store.FollowUps(r.Context(), clinic.ID, id, s.Steps)
	if err != nil {
		s.writeError(w, err)
		return
	}
	view := SessionView{SessionID: rec.SessionID, Status: rec.Status, End: rec.End, Client: aftercare.MaskPhone(rec.Client.Phone), Service: rec.Service}
	for _, f := range fus {
		if f.PlanVersion != rec.PlanVersion {
			continue
		}
		view.FollowUps = append(view.FollowUps, FollowUpView{Step: f.Step, Status: f.Status, DueAt: f.DueAt, Reason: f.Reason, MessageSID: f.MessageSID, SentAt: f.SentAt})
	}
	if rec.Client.Phone != "" {
		consent, err := s.consentOf(r.Context(), clinic, rec.Client.Phone)
		if err != nil {
			s.writeError(w, err)
			return
		}
		view.Consent = &consent
	}
	writeJSON(w, http.StatusOK, view)
}

// pathID reads an id from the URL path, checked as every id we take is
// (aftercare.IDProblem), before it goes near a NATS subject or key. A bad
// one is answered 400 naming the field, and ok is false.
func pathID(w http.ResponseWriter, r *http.Request, param, field string) (id string, ok bool) {
	id = r.PathValue(param)
	if problem := aftercare.IDProblem(id); problem != "" {
		writeJSON(w, http.StatusBadRequest, intake.ErrorResponse{
			Error:    field + " in the URL path " + problem,
			Problems: []aftercare.Problem{{Field: field, Message: problem}},
		})
		return "", false
	}
	return id, true
}

func (s *SchedulerAPI) writeError(w http.ResponseWriter, err error) {
	status, resp := intake.Outcome(err)
	if status >= 500 {
		s.Log.Error("request failed", "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aftercare"`)
	}
	writeJSON(w, status, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// NewServer returns an HTTP server with timeouts that keep slow or idle
// clients from holding connections open.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listener is a started HTTP server.
type Listener struct {
	srv  *http.Server
	addr string
	errc chan error
}

// Listen starts serving h on addr (":0" picks a free port).
func Listen(addr string, h http.Handler, log *slog.Logger) (*Listener, error) {
	return serve(NewServer(addr, h, log))
}

// serve starts a configured server on its address.
func serve(srv *http.Server) (*Listener, error) {
	addr := srv.Addr
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR %s: %w", addr, err)
	}
	l := &Listener{srv: srv, addr: ln.Addr().String(), errc: make(chan error, 1)}
	go func() { l.errc <- srv.Serve(ln) }()
	return l, nil
}

// Addr is the address the server listens on.
func (l *Listener) Addr() string { return l.addr }

// Failed is closed with the error when the server stops on its own.
func (l *Listener) Failed() <-chan error { return l.errc }

// Stop stops accepting connections and waits for requests in flight.
func (l *Listener) Stop(ctx context.Context) error {
	return l.srv.Shutdown(ctx)
}
