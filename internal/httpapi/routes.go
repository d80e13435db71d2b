package httpapi

import "net/http"

// SchedulerRoutes are the scheduler's HTTP endpoints.
func SchedulerRoutes(s *SchedulerAPI) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions", s.postSession)
	mux.HandleFunc("GET /v1/sessions/{session_id}", s.getSession)
	mux.HandleFunc("POST /v1/hooks/{system}/{clinic}", s.bookingHook)
	// The clinic's staff: the shared token, or a person's staff API token.
	mux.HandleFunc("GET /v1/escalations", s.staffTokens(s.listEscalations))
	mux.HandleFunc("GET /v1/escalations/{id}", s.staffTokens(s.getEscalation))
	mux.HandleFunc("POST /v1/escalations/{id}/acknowledge", s.staffTokens(s.acknowledgeEscalation))
	mux.HandleFunc("POST /v1/escalations/{id}/resolve", s.staffTokens(s.resolveEscalation))
	mux.HandleFunc("POST /v1/escalations/{id}/notes", s.staffTokens(s.noteEscalation))
	mux.HandleFunc("POST /v1/escalations/{id}/assign", s.staffTokens(s.assignEscalation))
	mux.HandleFunc("GET /v1/replies", s.staffTokens(s.listReplies))
	mux.HandleFunc("POST /v1/replies/{message_sid}/reviewed", s.staffTokens(s.markReviewed))
	mux.HandleFunc("GET /v1/clients/{phone}/consent", s.staffTokens(s.getConsent))
	mux.HandleFunc("POST /v1/clients/{phone}/consent", s.staffTokens(s.postConsent))
	if s.Erasure != nil {
		// A client's data: the clinic's token or a clinic_admin's staff token.
		mux.HandleFunc("GET /v1/clients/{phone}/export", s.staffTokens(s.exportClient))
	}
	if s.ErasureJobs != nil {
		// Erasure is a job: DELETE queues it, GET reads its state and answer.
		mux.HandleFunc("DELETE /v1/clients/{phone}", s.staffTokens(s.eraseClient))
		mux.HandleFunc("GET /v1/erasures/{id}", s.staffTokens(s.erasureJob))
	}
	if s.Inbox != nil {
		in := s.Inbox
		pages := http.NewServeMux()
		pages.HandleFunc("GET /inbox/static/inbox.css", in.Stylesheet)
		pages.HandleFunc("GET /inbox/login", in.LoginPage)
		pages.HandleFunc("POST /inbox/login", in.Login)
		pages.HandleFunc("POST /inbox/logout", in.Signed(in.Logout))
		pages.HandleFunc("GET /inbox", in.Signed(in.List))
		pages.HandleFunc("GET /inbox/{$}", in.Signed(in.List))
		pages.HandleFunc("GET /inbox/c/{id}", in.Signed(in.Conversation))
		pages.HandleFunc("POST /inbox/c/{id}/reply", in.Signed(in.Reply))
		pages.HandleFunc("POST /inbox/c/{id}/assign", in.Signed(in.Assign))
		pages.HandleFunc("POST /inbox/c/{id}/done", in.Signed(in.Done))
		pages.HandleFunc("POST /inbox/c/{id}/escalations/{eid}/acknowledge", in.Signed(in.Acknowledge))
		pages.HandleFunc("POST /inbox/c/{id}/escalations/{eid}/resolve", in.Signed(in.Resolve))
		pages.HandleFunc("GET /inbox/staff", in.Signed(in.StaffPage))
		pages.HandleFunc("POST /inbox/staff", in.Signed(in.CreateStaff))
		pages.HandleFunc("POST /inbox/token", in.Signed(in.CreateToken))
		pages.HandleFunc("POST /inbox/staff/{sid}/disable", in.Signed(in.DisableStaff))
		pages.HandleFunc("POST /inbox/staff/{sid}/enable", in.Signed(in.EnableStaff))
		pages.HandleFunc("POST /inbox/password", in.Signed(in.ChangePassword))
		mux.Handle("/inbox", in.Protect(pages))
		mux.Handle("/inbox/", in.Protect(pages))
	}
	addHealth(mux, s.Live, s.Ready, s.Metrics)
	return mux
}

// WorkerRoutes are the worker's HTTP endpoints: Twilio's webhooks.
func WorkerRoutes(a *WorkerAPI) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/twilio/inbound", a.inbound)
	mux.HandleFunc("POST /v1/twilio/status", a.status)
	addHealth(mux, a.Live, a.Ready, a.Metrics)
	return mux
}

// addHealth adds the probes and, when given, Prometheus' /metrics. The
// Ingress exposes only /v1/ paths, so these stay inside the cluster.
// /healthz is liveness: it fails only when a restart would help (live, when
// given, says so); /readyz is whether to send the program work now.
func addHealth(mux *http.ServeMux, live, ready func() error, metrics http.Handler) {
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if live != nil {
			if err := live(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "reason": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
