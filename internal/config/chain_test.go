package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/config"
)

// A clinic's escalation chain is checked as a whole at start; each mistake
// is named with its field.
func TestEscalationChainProblems(t *testing.T) {
	t.Parallel()
	doc := func(sender, escalation string) string {
		return `{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":` + sender + `,"contact_phone":"+442079460000",
		  "intake_token_env":"T","escalation":{"on_call_phone":"+447700900199",` + escalation + `}}]}`
	}
	from := `{"from":"+447700900100"}`
	tests := []struct{ sender, escalation, want string }{
		{from, `"chain":[{"after":"soon","text":["+447700900188"]}]`, `escalation.chain[0].after "soon" must be a positive duration`},
		{from, `"chain":[{"after":"30m","text":["+447700900188"]},{"after":"10m","email":true,"text":["+447700900188"]}]`, "must be later than the step before"},
		{from, `"chain":[{"after":"10m"}]`, "escalation.chain[0]: page someone"},
		{from, `"chain":[{"after":"10m","text":["07700 900188"]}]`, "escalation.chain[0].text"},
		{from, `"chain":[{"after":"10m","email":true}]`, "escalation.chain[0].email: set escalation.email"},
		{`{"messaging_service_sid":"MG00000000000000000000000000000001"}`, `"chain":[{"after":"10m","call":["+447700900188"]}]`, "a voice call needs sender.from"},
		{from, `"email":"front desk","chain":[{"after":"10m","email":true}]`, `escalation.email "front desk" is not a plain email address`},
		{from, `"remind_unresolved_after":"-4h"`, "remind_unresolved_after"},
	}
	env := getenv(map[string]string{"T": strings.Repeat("t", 32)})
	for _, tt := range tests {
		_, err := config.ParseClinics([]byte(doc(tt.sender, tt.escalation)), env, true)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to mention %q", tt.escalation, err, tt.want)
		}
	}
	good := doc(from, `"email":"frontdesk@a.example","remind_unresolved_after":"4h",
	  "chain":[{"after":"10m","text":["+447700900188"],"call":["+447700900188"]},{"after":"30m","email":true}]`)
	clinics, err := config.ParseClinics([]byte(good), env, true)
	if err != nil {
		t.Fatal(err)
	}
	esc := clinics[0].Escalation
	if esc.Chain[0].Delay != 10*time.Minute || esc.Chain[1].Delay != 30*time.Minute || esc.RemindAfter != 4*time.Hour {
		t.Errorf("parsed chain %+v, reminder %v", esc.Chain, esc.RemindAfter)
	}
	if got := esc.Contacts(); len(got) != 2 || got[0] != "+447700900199" || got[1] != "+447700900188" {
		t.Errorf("contacts %v: want the on-call phone and the backup, once each", got)
	}
}

// A chain that emails needs a mail server; plain SMTP only on loopback;
// escalations kept at least as long as everything else.
func TestWorkerSMTPAndEscalationRetention(t *testing.T) {
	t.Parallel()
	emailing := writeClinics(t, `{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
	  "intake_token_env":"T","escalation":{"on_call_phone":"+447700900199","email":"frontdesk@a.example","chain":[{"after":"30m","email":true}]}}]}`)
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "SMTP_HOST: clinic \"a\"'s escalation chain emails"},
		{map[string]string{"SMTP_HOST": "smtp.example.org", "SMTP_FROM": "x"}, "SMTP_FROM"},
		{map[string]string{"SMTP_HOST": "smtp.example.org", "SMTP_FROM": "a@example.org", "SMTP_TLS": "none"}, "SMTP_TLS: none is allowed only for a relay on loopback"},
		{map[string]string{"SMTP_HOST": "127.0.0.1", "SMTP_FROM": "a@example.org", "NATS_ESCALATION_RETENTION": "24h"}, "NATS_ESCALATION_RETENTION"},
		{map[string]string{"SMTP_HOST": "127.0.0.1", "SMTP_FROM": "a@example.org", "NATS_ESCALATION_RETENTION": "8759h"}, "NATS_ESCALATION_RETENTION: 8759h0m0s is under a year"},
	}
	for _, tt := range tests {
		tt.env["CLINICS_FILE"] = emailing
		_, _, err := config.LoadWorker(getenv(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want it to mention %q", tt.env, err, tt.want)
		}
	}
	ok := map[string]string{"CLINICS_FILE": emailing, "SMTP_HOST": "127.0.0.1", "SMTP_FROM": "a@example.org", "SMTP_TLS": "none"}
	cfg, _, err := config.LoadWorker(getenv(ok))
	if err != nil || cfg.SMTPPort != 587 || cfg.NATS.EscalationRetention != 8*365*24*time.Hour {
		t.Fatalf("a loopback relay: %v, port %d, escalations kept %v", err, cfg.SMTPPort, cfg.NATS.EscalationRetention)
	}
}
