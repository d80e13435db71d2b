package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/logging"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/staff"
)

// The first admin is made by a command: it prints a one-time password, or
// takes one from stdin, and the account can then sign in.
func TestStaffAddCommand(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"CLINICS_FILE": "../../config/clinics.local.json", "DEMO_CLINIC_INTAKE_TOKEN": "demo-intake-token-change-me-0001",
		"NATS_EMBEDDED_DIR": t.TempDir(), "NATS_EMBEDDED_LISTEN": "none", "LOG_LEVEL": "error",
		"ALLOW_ANY_SEND_WINDOW": "true", // as scripts/run-local: the demo clinic texts at any hour
	}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	var out, errs bytes.Buffer
	if err := staffCommand(ctx, []string{"add", "-clinic", "demo-clinic", "-email", "dana@demo.example", "-name", "Dana"}, getenv, strings.NewReader(""), &out, &errs); err != nil {
		t.Fatalf("%v: %s", err, errs.String())
	}
	m := regexp.MustCompile(`one-time password: (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no password printed: %s", out.String())
	}
	out.Reset()
	if err := staffCommand(ctx, []string{"add", "-clinic", "demo-clinic", "-email", "lee@demo.example", "-name", "Lee", "-role", "clinician", "-password-stdin"},
		getenv, strings.NewReader("a password from stdin\n"), &out, &errs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "password") {
		t.Errorf("a password given on stdin was printed: %s", out.String())
	}
	for _, bad := range [][]string{
		{"add", "-clinic", "nowhere", "-email", "x@demo.example", "-name", "X"},
		{"add", "-clinic", "demo-clinic", "-email", "dana@demo.example", "-name", "Dana again"},
		{"add", "-clinic", "demo-clinic", "-email", "y@demo.example", "-name", "Y", "-role", "owner"},
		{"remove"},
	} {
		if err := staffCommand(ctx, bad, getenv, strings.NewReader(""), &out, &errs); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}

	cfg, _, err := config.LoadScheduler(getenv)
	if err != nil {
		t.Fatal(err)
	}
	log := logging.New(&errs, "error", "text")
	conn, store, err := natsjs.Open(ctx, cfg.NATS, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	svc := staff.New(store, staff.Limits{PerAccount: 5, PerAddress: 5}, time.Now, log)
	for email, password := range map[string]string{"dana@demo.example": m[1], "lee@demo.example": "a password from stdin"} {
		if _, _, a, err := svc.Login(ctx, email, password, "127.0.0.1"); err != nil || a.ClinicID != "demo-clinic" {
			t.Errorf("%s: %+v %v", email, a, err)
		}
	}
}

// The local run (DEMO_STAFF) prints the inbox's URL and a demo login that
// works; DEMO_STAFF is refused with a NATS_URL (not a local run).
func TestLocalRunPrintsTheInboxAndADemoLogin(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"CLINICS_FILE": "../../config/clinics.local.json", "DEMO_CLINIC_INTAKE_TOKEN": "demo-intake-token-change-me-0001",
		"HTTP_ADDR": "127.0.0.1:0", "NATS_EMBEDDED_DIR": t.TempDir(), "NATS_EMBEDDED_LISTEN": "none",
		"DEMO_STAFF": "true", "INBOX_COOKIE_SECURE": "false", "LOG_LEVEL": "error", "ALLOW_ANY_SEND_WINDOW": "true",
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, stdout, stderr) }()
	defer func() { cancel(); <-done }()
	var m []string
	deadline := time.Now().Add(20 * time.Second)
	for m == nil {
		m = regexp.MustCompile(`staff inbox at (http://\S+)\n(?s:.*)demo login: (\S+) / (\S+)`).FindStringSubmatch(stdout.String())
		if time.Now().After(deadline) {
			t.Fatalf("no inbox URL and demo login printed: %s %s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(m[1]+"/login", url.Values{"email": {m[2]}, "password": {m[3]}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/inbox" || len(res.Cookies()) != 1 {
		t.Errorf("demo login: %d %q %v", res.StatusCode, res.Header.Get("Location"), res.Cookies())
	}

	env["NATS_URL"] = "nats://127.0.0.1:4222"
	if err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "DEMO_STAFF") {
		t.Errorf("DEMO_STAFF with NATS_URL: %v", err)
	}
}
