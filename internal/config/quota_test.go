package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/config"
)

func TestQuotaAndBackdateSettings(t *testing.T) {
	t.Parallel()
	base := map[string]string{"CLINICS_FILE": writeClinics(t, clinics), "HARBOUR_TOKEN": strings.Repeat("x", 32)}
	cfg, _, err := config.LoadScheduler(getenv(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QuotaPerClinic != 5000 || cfg.QuotaPerRecipient != 6 || cfg.Policy().Grace != 15*time.Minute {
		t.Errorf("defaults: %d, %d, grace %v", cfg.QuotaPerClinic, cfg.QuotaPerRecipient, cfg.Policy().Grace)
	}
	for k, v := range map[string]string{"QUOTA_TEXTS_PER_CLINIC_PER_DAY": "0", "QUOTA_TEXTS_PER_RECIPIENT_PER_DAY": "-1", "FOLLOWUP_BACKDATE_GRACE": "-1m"} {
		vars := map[string]string{k: v}
		for bk, bv := range base {
			vars[bk] = bv
		}
		if _, _, err := config.LoadScheduler(getenv(vars)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: error %v does not name it", k, v, err)
		}
	}
}

func TestClinicQuotaOverride(t *testing.T) {
	t.Parallel()
	doc := func(quota string) []byte {
		return []byte(`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
		  "intake_token_env":"T","escalation":{"on_call_phone":"+447700900199"},"quota":` + quota + `}]}`)
	}
	env := getenv(map[string]string{"T": strings.Repeat("t", 32)})
	list, err := config.ParseClinics(doc(`{"texts_per_day":50,"texts_per_recipient_per_day":2}`), env, true)
	if err != nil || list[0].Quota != (aftercare.Quota{TextsPerDay: 50, TextsPerRecipientPerDay: 2}) {
		t.Errorf("quota: %+v, %v", list, err)
	}
	if _, err := config.ParseClinics(doc(`{"texts_per_day":-5}`), env, true); err == nil || !strings.Contains(err.Error(), "quota") {
		t.Errorf("negative quota: %v", err)
	}
}
