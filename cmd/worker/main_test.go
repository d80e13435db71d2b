package main

import (
	"bytes"
	"context"
	"encoding/json"
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

func TestTriageCommand(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"triage", "-previous", "3", "my", "leg", "is", "numb"}, func(string) string { return "" }, &out, &errOut)
	if err != nil {
		t.Fatalf("triage: %v (%s)", err, errOut.String())
	}
	var got struct {
		Text     string `json:"text"`
		Class    string `json:"class"`
		Reason   string `json:"reason"`
		Escalate bool   `json:"escalate"`
		Previous *int   `json:"previous_score"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if got.Text != "my leg is numb" || got.Class != "red_flag" || !got.Escalate || got.Reason == "" || got.Previous == nil || *got.Previous != 3 {
		t.Errorf("decision = %+v", got)
	}
	if err := run(context.Background(), []string{"triage"}, func(string) string { return "" }, &out, &errOut); err == nil {
		t.Error("triage with no text: want an error")
	}
}
