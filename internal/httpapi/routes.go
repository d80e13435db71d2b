package httpapi

import "net/http"

// SchedulerRoutes are the scheduler's HTTP endpoints.
func SchedulerRoutes(s *SchedulerAPI) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions", s.postSession)
	mux.HandleFunc("GET /v1/sessions/{session_id}", s.getSession)
	addHealth(mux, s.Ready)
	return mux
}

// WorkerRoutes are the worker's HTTP endpoints.
func WorkerRoutes(ready func() error) http.Handler {
	mux := http.NewServeMux()
	addHealth(mux, ready)
	return mux
}

func addHealth(mux *http.ServeMux, ready func() error) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
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
