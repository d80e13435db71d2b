package config_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/config"
)

const clinics = `{"clinics":[{"id":"harbour","name":"Harbour Massage","time_zone":"Europe/London",
 "sender":{"from":"+447700900100"},"contact_phone":"+442079460000","intake_token_env":"HARBOUR_TOKEN",
 "escalation":{"on_call_phone":"+447700900199"}}]}`

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func writeClinics(t *testing.T, doc string) string {
	t.Helper()
	path := t.TempDir() + "/clinics.json"
	if err := writeFile(path, doc); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSchedulerDefaults(t *testing.T) {
	t.Parallel()
	cfg, list, err := config.LoadScheduler(getenv(map[string]string{
		"CLINICS_FILE": writeClinics(t, clinics), "HARBOUR_TOKEN": strings.Repeat("x", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8080" || len(cfg.Offsets) != 3 || cfg.Offsets[2].Hours() != 72 || cfg.NATS.EmbeddedSync != "always" || cfg.NATS.InboxPrefix != "_INBOX" {
		t.Errorf("defaults: %+v", cfg)
	}
	if len(list) != 1 || list[0].SendWindow != config.DefaultSendWindow || list[0].IntakeToken == "" || list[0].Locale != "en" {
		t.Errorf("clinic defaults: %+v", list)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"FOLLOWUP_OFFSETS": "48h,24h"}, "FOLLOWUP_OFFSETS"},
		{map[string]string{"FOLLOWUP_OFFSETS": "soon"}, "FOLLOWUP_OFFSETS"},
		{map[string]string{"FOLLOWUP_STALENESS": "-1h"}, "FOLLOWUP_STALENESS"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"NATS_REPLICAS": "2"}, "NATS_REPLICAS"},
		{map[string]string{"NATS_EMBEDDED_SYNC": "sometimes"}, "NATS_EMBEDDED_SYNC"},
		{map[string]string{"NATS_RETENTION": "24h"}, "NATS_RETENTION"},
		{map[string]string{"NATS_EMBEDDED_LISTEN": "0.0.0.0:4222"}, "NATS_EMBEDDED_LISTEN"},
		{map[string]string{"NATS_EMBEDDED_LISTEN": ":4222"}, "NATS_EMBEDDED_LISTEN"},
		{map[string]string{"NATS_EMBEDDED_LISTEN": "10.0.0.5:4222", "NATS_EMBEDDED_TLS_CERT": "cert.pem"}, "NATS_EMBEDDED_TLS_KEY"},
		{map[string]string{"NATS_DOWN_LIVENESS": "0s"}, "NATS_DOWN_LIVENESS"},
		{map[string]string{"NATS_INBOX_PREFIX": "_INBOX.>"}, "NATS_INBOX_PREFIX"},
		{map[string]string{"NATS_INBOX_PREFIX": "_INBOX_worker."}, "NATS_INBOX_PREFIX"},
		{map[string]string{"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"},
		{map[string]string{"HARBOUR_TOKEN": "short"}, "HARBOUR_TOKEN"},
		{map[string]string{"CLINICS_FILE": "/nonexistent.json"}, "CLINICS_FILE"},
	}
	for _, tt := range tests {
		vars := map[string]string{"CLINICS_FILE": writeClinics(t, clinics), "HARBOUR_TOKEN": strings.Repeat("x", 32)}
		for k, v := range tt.vars {
			vars[k] = v
		}
		_, _, err := config.LoadScheduler(getenv(vars))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v does not name %s", tt.vars, err, tt.want)
		}
	}
	// A NATS_URL that does not parse is named, its password never printed.
	vars := map[string]string{"CLINICS_FILE": writeClinics(t, clinics), "HARBOUR_TOKEN": strings.Repeat("x", 32),
		"NATS_URL": "nats://aftercare:s3cret pass%zz@nats:4222"}
	if _, _, err := config.LoadScheduler(getenv(vars)); err == nil || !strings.Contains(err.Error(), "NATS_URL") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad NATS_URL: error %v, want it named without the password", err)
	}
}

func TestEmbeddedListen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen string
		tls    bool
		ok     bool
	}{
		{"127.0.0.1:4222", false, true},
		{"[::1]:4222", false, true},
		{"localhost:4222", false, true},
		{"none", false, true},
		{"0.0.0.0:4222", false, false},
		{":4222", false, false},
		{"192.168.1.10:4222", false, false},
		{"0.0.0.0:4222", true, true},
		{"127.0.0.1", false, false},
	}
	for _, tt := range tests {
		err := config.CheckEmbeddedListen(tt.listen, tt.tls)
		if (err == nil) != tt.ok || err != nil && !strings.Contains(err.Error(), "NATS_EMBEDDED_LISTEN") {
			t.Errorf("CheckEmbeddedListen(%q, tls %v) = %v, want ok %v", tt.listen, tt.tls, err, tt.ok)
		}
	}
}

func TestWorkerDriverChoice(t *testing.T) {
	t.Parallel()
	base := map[string]string{"CLINICS_FILE": writeClinics(t, clinics)}
	cfg, _, err := config.LoadWorker(getenv(base))
	if err != nil || cfg.SMSDriver != config.DriverConsole {
		t.Fatalf("no credentials: driver %q, err %v; want console", cfg.SMSDriver, err)
	}
	withTwilio := map[string]string{"CLINICS_FILE": base["CLINICS_FILE"], "TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "abc123"}
	if cfg, _, err = config.LoadWorker(getenv(withTwilio)); err != nil || cfg.SMSDriver != config.DriverTwilio {
		t.Fatalf("with credentials: driver %q, err %v; want twilio", cfg.SMSDriver, err)
	}
	half := map[string]string{"CLINICS_FILE": base["CLINICS_FILE"], "SMS_DRIVER": "twilio", "TWILIO_ACCOUNT_SID": "AC123"}
	if _, _, err = config.LoadWorker(getenv(half)); err == nil || !strings.Contains(err.Error(), "TWILIO_AUTH_TOKEN") {
		t.Fatalf("twilio without a token: %v", err)
	}
}

// An API key sends in place of the auth token; it comes whole or not at all,
// and the auth token is still required for webhook signatures.
func TestTwilioAPIKey(t *testing.T) {
	t.Parallel()
	file := writeClinics(t, clinics)
	tests := []struct {
		name    string
		env     map[string]string
		problem string // empty: accepted
	}{
		{"key and token", map[string]string{"TWILIO_API_KEY_SID": "SK123", "TWILIO_API_KEY_SECRET": "s3cret"}, ""},
		{"sid without secret", map[string]string{"TWILIO_API_KEY_SID": "SK123"}, "set both"},
		{"secret without sid", map[string]string{"TWILIO_API_KEY_SECRET": "s3cret"}, "set both"},
		{"not an SK sid", map[string]string{"TWILIO_API_KEY_SID": "AC123", "TWILIO_API_KEY_SECRET": "s3cret"}, "SK..."},
		{"secret with symbols", map[string]string{"TWILIO_API_KEY_SID": "SK123", "TWILIO_API_KEY_SECRET": "s3cret!"}, "letters and digits"},
		{"key without token", map[string]string{"TWILIO_AUTH_TOKEN": "", "TWILIO_API_KEY_SID": "SK123", "TWILIO_API_KEY_SECRET": "s3cret"}, "TWILIO_AUTH_TOKEN"},
	}
	for _, tt := range tests {
		env := map[string]string{"CLINICS_FILE": file, "SMS_DRIVER": "twilio", "TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "abc123"}
		maps.Copy(env, tt.env)
		cfg, _, err := config.LoadWorker(getenv(env))
		switch {
		case tt.problem == "" && (err != nil || cfg.TwilioAPIKeySID != "SK123" || cfg.TwilioAPIKeySecret != "s3cret"):
			t.Errorf("%s: %+v, %v; want the key taken", tt.name, cfg.TwilioAPIKeySID, err)
		case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("%s: %v; want an error saying %q", tt.name, err, tt.problem)
		}
	}
}

func TestClinicProblems(t *testing.T) {
	t.Parallel()
	tests := []struct{ doc, want string }{
		{`{"clinics":[]}`, "no clinics"},
		{`{"clinics":[{"id":"Bad ID","name":"X","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "id must be"},
		{`{"clinics":[{"id":"a","name":"Clínica","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "GSM-7"},
		{`{"clinics":[{"id":"a","name":"A name far too long for one segment","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "name must be"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"Mars/Base","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "time_zone"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","send_window":"nine to five","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "send window"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{},"intake_token_env":"T"}]}`, "exactly one"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T","token":"x"}]}`, "unknown field"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"},
		  {"id":"b","name":"B","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "same as clinic"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"},
		  {"id":"b","name":"B","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "replies could not be told apart"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "contact_phone is required"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"contact_phone":"+44 20 7946 0000","intake_token_env":"T"}]}`, "write it +442079460000"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T","escalation":{"on_call_phone":"+442079460000"}}]}`, "on_call_phone is a landline"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T"}]}`, "set on_call_phone or webhook_url"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T","emergency_number":"call 999"}]}`, "emergency_number"},
		{`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"intake_token_env":"T",
		  "escalation":{"webhook_url":"http://clinic.example/hook","webhook_secret_env":"T"}}]}`, "must be https"},
	}
	env := getenv(map[string]string{"T": strings.Repeat("t", 32)})
	bookings := []struct{ doc, want string }{
		{`"booking":{"zoho":{"secret_env":"T"}}`, "no adapter"},
		{`"booking":{"square":{"secret_env":"T"}}`, "notification_url"},
		{`"booking":{"acuity":{"secret_env":"T"}}`, "api_user_id"},
		{`"booking":{"calcom":{"secret_env":"SHORT"}}`, "at least 16"},
		{`"booking":{"mindbody":{"secret_env":"T","time_zone":"Moon/Base"}}`, "time_zone"},
		{`"booking":{"mindbody":{"secret_env":"T","country_code":"39"}}`, "calling code of one of allowed_countries [GB]"},
		{`"booking":{"calcom":{"secret_env":"T","services":{"x":"deep_tissue"}}}`, "only Square's bookings name their service by an id"},
		{`"booking":{"square":{"secret_env":"T","notification_url":"https://a.example/v1/hooks/square/harbour","services":{"GUN7":"!!"}}}`, "maps a service variation id to a service name"},
		{`"allowed_countries":["UK"]`, `"UK" is not an ISO 3166 region`},
		{`"sender":{"from":"+19005550123"}`, "sender.from is a premium-rate"},
	}
	for _, b := range bookings {
		doc := `{"clinics":[{"id":"a","name":"A","time_zone":"UTC","contact_phone":"+442079460000",
		  "intake_token_env":"T","escalation":{"on_call_phone":"+447700900199"},` + b.doc + `}]}`
		if !strings.Contains(b.doc, `"sender"`) {
			doc = strings.Replace(doc, `"contact_phone"`, `"sender":{"from":"+447700900100"},"contact_phone"`, 1)
		}
		if _, err := config.ParseClinics([]byte(doc), getenv(map[string]string{"T": strings.Repeat("t", 32), "SHORT": "short"}), true); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: error %v, want it to mention %q", b.doc, err, b.want)
		}
	}
	good := `{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
	  "intake_token_env":"T","escalation":{"webhook_url":"http://127.0.0.1:9000/hook","webhook_secret_env":"T"}}]}`
	if _, err := config.ParseClinics([]byte(good), env, true); err != nil {
		t.Errorf("a loopback http webhook is allowed for local runs: %v", err)
	}
	for _, tt := range tests {
		_, err := config.ParseClinics([]byte(tt.doc), env, true)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to mention %q", tt.doc, err, tt.want)
		}
	}
}

// allowed_countries defaults to the region of the clinic's own number.
func TestAllowedCountriesDefault(t *testing.T) {
	t.Parallel()
	env := getenv(map[string]string{"T": strings.Repeat("t", 32)})
	for contact, want := range map[string]string{"+442079460000": "[GB]", "+390612345678": "[IT]", "+525555550100": "[MX]"} {
		doc := `{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"contact_phone":"` + contact + `",
		  "intake_token_env":"T","escalation":{"on_call_phone":"+447700900199"}}]}`
		list, err := config.ParseClinics([]byte(doc), env, true)
		if err != nil || fmt.Sprint(list[0].AllowedCountries) != want {
			t.Errorf("contact %s: %v %v, want %s", contact, list, err, want)
		}
	}
}

func TestExampleClinicsFileIsValid(t *testing.T) {
	t.Parallel()
	secrets := func(name string) string { return name + strings.Repeat("s", 32) }
	list, err := config.LoadClinics("../../config/clinics.example.json", secrets, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 2 {
		t.Fatalf("example has %d clinics", len(list))
	}
	// The deployment's clinics file is a full example too.
	if _, err := config.LoadClinics("../../deploy/k8s/base/clinics.json", secrets, true); err != nil {
		t.Fatal(err)
	}
	// The demo's window opens every minute (its texts come seconds apart),
	// which only ALLOW_ANY_SEND_WINDOW (set by scripts/run-local) accepts.
	if _, err := config.LoadClinics("../../config/clinics.local.json", secrets, true); err == nil {
		t.Error("the demo's every-minute window was accepted without ALLOW_ANY_SEND_WINDOW")
	}
	_, _, err = config.LoadScheduler(getenv(map[string]string{"CLINICS_FILE": "../../config/clinics.local.json",
		"ALLOW_ANY_SEND_WINDOW": "true", "DEMO_CLINIC_INTAKE_TOKEN": strings.Repeat("s", 32)}))
	if err != nil {
		t.Fatal(err)
	}
}

// A Twilio call that can outlast its job would be abandoned while Twilio
// may still accept the text: sent, never recorded, sent again.
func TestTwilioCallsFitWithinAJob(t *testing.T) {
	t.Parallel()
	base := map[string]string{"CLINICS_FILE": writeClinics(t, clinics), "HARBOUR_TOKEN": strings.Repeat("x", 32), "SMS_DRIVER": "console"}
	tests := []struct {
		vars map[string]string
		want string // "" for no error
	}{
		{map[string]string{"WORKER_ACK_WAIT": "10s", "TWILIO_TIMEOUT": "8s", "ESCALATION_WEBHOOK_TIMEOUT": "500ms"}, ""},
		{map[string]string{"WORKER_ACK_WAIT": "10s", "TWILIO_TIMEOUT": "9500ms"}, "TWILIO_TIMEOUT"},
		{map[string]string{"WORKER_ACK_WAIT": "60s", "TWILIO_TIMEOUT": "10s", "ESCALATION_WEBHOOK_TIMEOUT": "45s"}, "ESCALATION_WEBHOOK_TIMEOUT"},
	}
	for _, tt := range tests {
		vars := maps.Clone(base)
		maps.Copy(vars, tt.vars)
		cfg, _, err := config.LoadWorker(getenv(vars))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.vars, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: error %v does not name %s", tt.vars, err, tt.want)
		case err == nil && cfg.TwilioTimeout >= cfg.JobTimeout():
			t.Errorf("%v: job time %v leaves no room for the Twilio call", tt.vars, cfg.JobTimeout())
		}
	}
}
