package httpapi

import "net/http"

// SchedulerRoutes are the scheduler's HTTP endpoints.
func SchedulerRoutes(s *SchedulerAPI) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions", s.postSession)
	mux.HandleFunc("GET /v1/sessions/{session_id}", s.getSession)
	mux.HandleFunc("POST /v1/hooks/{system}/{clinic}", s.bookingHook)
	mux.HandleFunc("GET /v1/escalations", s.listEscalations)
	mux.HandleFunc("GET /v1/escalations/{id}", s.getEscalation)
	mux.HandleFunc("POST /v1/escalations/{id}/acknowledge", s.acknowledgeEscalation)
	mux.HandleFunc("POST /v1/escalations/{id}/resolve", s.resolveEscalation)
	mux.HandleFunc("POST /v1/escalations/{id}/notes", s.noteEscalation)
	mux.HandleFunc("POST /v1/escalations/{id}/assign", s.assignEscalation)
	mux.HandleFunc("GET /v1/replies", s.listReplies)
	mux.HandleFunc("POST /v1/replies/{message_sid}/reviewed", s.markReviewed)
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
