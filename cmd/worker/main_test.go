package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]map[string]string{
		"SMS_DRIVER":           {"SMS_DRIVER": "pigeon"},
		"TWILIO_AUTH_TOKEN":    {"SMS_DRIVER": "twilio", "TWILIO_ACCOUNT_SID": "AC1"},
		"WORKER_CONCURRENCY":   {"WORKER_CONCURRENCY": "0"},
		"SEND_RATE_PER_SENDER": {"SEND_RATE_PER_SENDER": "-1"},
		"TWILIO_API_BASE_URL":  {"SMS_DRIVER": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "x1", "TWILIO_API_BASE_URL": "not a url"},
	}
	for want, env := range tests {
		env["CLINICS_FILE"] = "../../config/clinics.local.json"
		err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want an error naming %s, got %v", env, want, err)
		}
	}
}
