package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
)

// ListenPprof serves Go's profiler on addr (PPROF_ADDR), apart from the
// API so it is never routed from outside. It returns nil when addr is empty.
func ListenPprof(addr string, log *slog.Logger) (*Listener, error) {
	if addr == "" {
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := NewServer(addr, mux, log)
	// Profiles take up to 30 s; the API's write timeout would cut them off.
	srv.WriteTimeout = 0
	l, err := serve(srv)
	if err != nil {
		return nil, err
	}
	log.Warn("pprof listening: for profiling only", "addr", l.Addr())
	return l, nil
}
