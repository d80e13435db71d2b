package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/spool"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// A client's text that reaches the webhook while the replies stream has no
// leader (two of three nodes down: no quorum, the longest election) gets
// Twilio's 200 from the spool, and reaches JetStream, once, when the
// cluster is back.
func TestInboundTextSurvivesNoLeader(t *testing.T) {
	t.Parallel()
	cluster := natsjstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, store, err := natsjs.Open(ctx, config.NATS{URL: cluster.URLs(), Replicas: 3, Retention: 720 * time.Hour}, t.Name(), natsjstest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sp, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	api := &httpapi.WorkerAPI{
		Verifier: twilio.NewWebhookVerifier(twiliotest.AuthToken, "https://aftercare.example"),
		Store:    store, Clinics: natsjstest.Clinics(t), Ready: func() error { return nil }, Now: time.Now, Log: natsjstest.Logger(),
		Spool: sp, StoreWait: 300 * time.Millisecond,
	}
	srv := httptest.NewServer(httpapi.WorkerRoutes(api))
	defer srv.Close()
	post := func(i int) int {
		p := twiliotest.Inbound(fmt.Sprintf("SM%032d", i), "+447700900123", "+447700900100", "worse today, my leg is numb")
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/twilio/inbound", strings.NewReader(p.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(twiliotest.AuthToken, "https://aftercare.example/v1/twilio/inbound", p))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(0); got != http.StatusOK {
		t.Fatalf("with the cluster up: %d", got)
	}

	cluster.Stop(1)
	cluster.Stop(2)
	const during = 4
	for i := 1; i <= during; i++ {
		if got := post(i); got != http.StatusOK {
			t.Errorf("text %d with no leader: %d, want 200 (kept in the spool)", i, got)
		}
	}
	if got := sp.Len(); got != during {
		t.Fatalf("spool holds %d texts, want %d", got, during)
	}
	cluster.Restart(t, 1)
	cluster.Restart(t, 2)
	go api.DrainSpool(ctx, 100*time.Millisecond)

	js := natsjstest.Connect(t, cluster.URLs())
	deadline := time.Now().Add(60 * time.Second)
	for {
		stored, err := countReplies(ctx, js)
		if err == nil && stored == during+1 && sp.Len() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the cluster came back: %d texts stored (%v), %d still spooled; want %d and 0", stored, err, sp.Len(), during+1)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Twilio sends the same text again (as with connection overrides): it
	// is stored once.
	if got := post(3); got != http.StatusOK {
		t.Errorf("a repeat: %d", got)
	}
	if stored, _ := countReplies(ctx, js); stored != during+1 {
		t.Errorf("after a repeat %d texts are stored, want %d", stored, during+1)
	}
}

func countReplies(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natsjs.StreamReplies)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
