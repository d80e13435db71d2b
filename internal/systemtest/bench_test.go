package systemtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/escalation/escalationtest"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// BenchmarkReplyToNotification measures the time from a client's "worse"
// text reaching the worker's webhook to the clinic's webhook receiving the
// escalation, through the real programs and an embedded nats-server with
// each fsync setting. Run with a fixed count, for example:
//
//	go test -run '^$' -bench ReplyToNotification -benchtime 200x ./internal/systemtest/
func BenchmarkReplyToNotification(b *testing.B) {
	for _, sync := range []string{"always", "2m"} {
		b.Run("fsync="+sync, func(b *testing.B) {
			s := setupBench(b)
			port := freePort(b)
			worker := s.start("worker", "NATS_URL=", "NATS_EMBEDDED_DIR="+filepath.Join(b.TempDir(), "nats"),
				"NATS_EMBEDDED_LISTEN=127.0.0.1:"+port, "NATS_EMBEDDED_SYNC="+sync)
			s.natsURL = "nats://127.0.0.1:" + port
			scheduler := s.start("scheduler")
			phones := make([]string, b.N)
			for i := range b.N {
				phones[i] = fmt.Sprintf("+4477009%05d", i)
				s.post(scheduler, event(fmt.Sprintf("b%d", i), fmt.Sprintf("b%d", i), "completed", phones[i], time.Now()))
			}
			time.Sleep(500 * time.Millisecond) // let the planner link every client
			latencies := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				sid := newSID()
				sent := time.Now()
				res := s.text(worker, twiliotest.Inbound(sid, phones[i], harbourNumber, "much worse today"), "")
				if res.StatusCode != http.StatusOK {
					b.Fatalf("inbound: %d", res.StatusCode)
				}
				got := s.clinic.Wait(i+1, 10*time.Second)
				if len(got) != i+1 || got[i].Payload.Escalation.ReplySID != sid {
					b.Fatalf("escalation %d did not arrive", i)
				}
				latencies = append(latencies, got[i].At.Sub(sent))
			}
			b.StopTimer()
			slices.Sort(latencies)
			pct := func(p float64) float64 {
				return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1), "max-ms")
		})
	}
}

func setupBench(b *testing.B) *system {
	stand := twiliotest.NewServer()
	b.Cleanup(stand.Close)
	receiver := escalationtest.NewReceiver(webhookSecret)
	b.Cleanup(receiver.Close)
	clinics := filepath.Join(b.TempDir(), "clinics.json")
	if err := os.WriteFile(clinics, []byte(fmt.Sprintf(clinicsJSON, receiver.URL)), 0o600); err != nil {
		b.Fatal(err)
	}
	return &system{t: b, twilio: stand, clinic: receiver, clinics: clinics, offsets: "1h,2h,3h", ackWait: "30s"}
}

func freePort(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}
