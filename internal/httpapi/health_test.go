package httpapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aftercare/aftercare/internal/httpapi"
)

// /healthz (liveness) follows Live alone, /readyz follows Ready alone: the
// worker stays ready while NATS is away yet is restarted when it stays away.
func TestProbes(t *testing.T) {
	t.Parallel()
	down := errors.New("nats unreachable for 3m0s, longer than NATS_DOWN_LIVENESS (2m0s)")
	tests := []struct {
		name              string
		live, ready       error
		wantLive, wantRdy int
	}{
		{"all well", nil, nil, 200, 200},
		{"not ready, still live", nil, down, 200, 503},
		{"NATS away too long", down, nil, 503, 200},
	}
	for _, tt := range tests {
		for program, h := range map[string]http.Handler{
			"scheduler": httpapi.SchedulerRoutes(&httpapi.SchedulerAPI{Live: func() error { return tt.live }, Ready: func() error { return tt.ready }}),
			"worker":    httpapi.WorkerRoutes(&httpapi.WorkerAPI{Live: func() error { return tt.live }, Ready: func() error { return tt.ready }}),
		} {
			for path, want := range map[string]int{"/healthz": tt.wantLive, "/readyz": tt.wantRdy} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != want {
					t.Errorf("%s, %s %s: %d %s, want %d", tt.name, program, path, rec.Code, rec.Body, want)
				}
			}
		}
	}
}
