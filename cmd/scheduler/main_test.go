package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CLINICS_FILE": "../../config/clinics.local.json", "DEMO_CLINIC_INTAKE_TOKEN": "demo-intake-token-change-me-0001", "FOLLOWUP_STALENESS": "often"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "FOLLOWUP_STALENESS") {
		t.Fatalf("want an error naming FOLLOWUP_STALENESS, got %v", err)
	}
}

// The program on its embedded defaults: starts, is ready, takes a session,
// and stops cleanly when its context ends (as on SIGTERM).
func TestRunEmbedded(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"CLINICS_FILE": "../../config/clinics.local.json", "DEMO_CLINIC_INTAKE_TOKEN": "demo-intake-token-change-me-0001",
		"HTTP_ADDR": "127.0.0.1:0", "NATS_EMBEDDED_DIR": t.TempDir(), "NATS_EMBEDDED_LISTEN": "none",
		"ALLOW_ANY_SEND_WINDOW": "true", // the demo's window opens every minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, stdout, stderr) }()

	addr := ""
	deadline := time.Now().Add(20 * time.Second)
	for addr == "" {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("not started: %s", stderr.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	res, err := http.Get(addr + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", res, err)
	}
	res.Body.Close()
	body := `{"event_id":"e1","session_id":"s1","kind":"completed","session_end":"` + time.Now().UTC().Format(time.RFC3339) + `","client":{"phone":"+447700900123"}}`
	req, _ := http.NewRequest(http.MethodPost, addr+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer demo-intake-token-change-me-0001")
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("post: %v %v", res, err)
	}
	res.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	if !strings.Contains(stderr.String(), "scheduler stopped") {
		t.Errorf("no clean stop logged: %s", stderr.String())
	}
}
