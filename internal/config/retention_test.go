package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/config"
)

// A clinic's retention only shortens the service's (the streams expire
// every clinic's records at NATS_RETENTION and NATS_ESCALATION_RETENTION),
// its texts outlast its last tip, and each is a positive duration; the
// scheduler does not start otherwise, and says which field is wrong.
func TestClinicRetention(t *testing.T) {
	t.Parallel()
	withRetention := func(r string) string {
		return strings.Replace(clinics, `"intake_token_env":"HARBOUR_TOKEN",`, `"intake_token_env":"HARBOUR_TOKEN","retention":`+r+`,`, 1)
	}
	load := func(doc string, extra ...string) (config.Scheduler, error) {
		vars := map[string]string{"CLINICS_FILE": writeClinics(t, doc), "HARBOUR_TOKEN": strings.Repeat("x", 32)}
		for i := 0; i+1 < len(extra); i += 2 {
			vars[extra[i]] = extra[i+1]
		}
		cfg, list, err := config.LoadScheduler(getenv(vars))
		if err == nil {
			r := list[0].Retention
			if r.TextsFor != 240*time.Hour || r.EscalationsFor != 43800*time.Hour || r.DeadLettersFor != 72*time.Hour {
				t.Errorf("parsed: %+v", r)
			}
		}
		return cfg, err
	}
	cfg, err := load(withRetention(`{"texts":"240h","escalations":"43800h","dead_letters":"72h"}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RetentionSchedule != "@every 1h" || cfg.RetentionMaxPerRun != 200 {
		t.Errorf("defaults: %q, %d", cfg.RetentionSchedule, cfg.RetentionMaxPerRun)
	}
	for _, c := range []struct {
		doc   string
		extra []string
		says  string
	}{
		{withRetention(`{"texts":"2160h"}`), nil, "retention.texts 2160h0m0s is longer than NATS_RETENTION"},
		{withRetention(`{"texts":"72h"}`), nil, "retention.texts 72h0m0s must exceed the last follow-up offset"},
		{withRetention(`{"escalations":"100000h"}`), nil, "retention.escalations"},
		{withRetention(`{"dead_letters":"1000h"}`), nil, "retention.dead_letters"},
		// Clinical records: not less than a year, whatever the clinic says.
		{withRetention(`{"escalations":"876h"}`), nil, `clinic "harbour": retention.escalations "876h" is shorter than a year`},
		{withRetention(`{"escalations":"8759h"}`), nil, `clinic "harbour": retention.escalations "8759h" is shorter than a year`},
		{withRetention(`{"texts":"a month"}`), nil, `retention.texts "a month" must be a positive duration`},
		{withRetention(`{"dead_letters":"-1h"}`), nil, `retention.dead_letters "-1h"`},
		{clinics, []string{"RETENTION_MAX_PER_RUN", "0"}, "RETENTION_MAX_PER_RUN"},
	} {
		if _, err := load(c.doc, c.extra...); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s %v: error %v, want it to say %s", c.doc, c.extra, err, c.says)
		}
	}
}
