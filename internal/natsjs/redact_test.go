package natsjs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/config"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"nats://nats:4222":                           "nats://nats:4222",
		"nats://user:s3cret@nats:4222":               "nats://redacted@nats:4222",
		"nats://t0ken@nats:4222":                     "nats://redacted@nats:4222",
		"nats://a:s3cret@n1:4222,nats://a:s3cret@n2": "nats://redacted@n1:4222,nats://redacted@n2",
		"nats://u:s3cret%zz@n1:4222":                 "nats://redacted@n1:4222",
	} {
		if got := natsjs.RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// A connection that fails names the server it tried, never the password
// in NATS_URL.
func TestConnectErrorHidesThePassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := natsjs.Connect(ctx, config.NATS{URL: "nats://aftercare:s3cret-pass@127.0.0.1:1"}, "test", natsjstest.Logger())
	if err == nil || strings.Contains(err.Error(), "s3cret-pass") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("connect error: %v", err)
	}
}
