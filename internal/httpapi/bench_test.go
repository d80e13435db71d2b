package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// BenchmarkPostSession measures how long a booking system waits for its 202:
// HTTP, validation, and the JetStream write it waits on, on the embedded
// server with each fsync setting. Run with:
//
//	go test -run '^$' -bench PostSession -benchtime 2000x ./internal/httpapi/
func BenchmarkPostSession(b *testing.B) {
	for _, sync := range []string{"always", "2m"} {
		b.Run("sync="+sync, func(b *testing.B) {
			ctx := context.Background()
			conn, store, err := natsjs.Open(ctx, config.NATS{EmbeddedDir: b.TempDir(), EmbeddedListen: "none", EmbeddedSync: sync, Replicas: 1, Retention: 30 * 24 * time.Hour}, "bench", natsjstest.Logger())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			svc := &intake.Service{Store: store, Clinics: natsjstest.Clinics(b), Now: func() time.Time { return now }, Log: natsjstest.Logger(), MaxBody: 4096}
			srv := httptest.NewServer(httpapi.SchedulerRoutes(&httpapi.SchedulerAPI{Intake: svc, Store: store, Steps: 3, Ready: func() error { return nil }, Now: time.Now, Log: natsjstest.Logger()}))
			defer srv.Close()
			latencies := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				body := strings.Replace(goodEvent, `"e1"`, fmt.Sprintf(`"e%d"`, i), 1)
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/sessions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+natsjstest.HarbourToken)
				start := time.Now()
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode != http.StatusAccepted {
					b.Fatalf("post: %v %v", res, err)
				}
				res.Body.Close()
				latencies = append(latencies, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(latencies)
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
