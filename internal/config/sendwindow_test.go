package config_test

import (
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/config"
)

// A send window outside the calling hours (08:00-21:00, or the region's the
// clinic selects) stops the program, naming the clinic and the field.
func TestSendWindowGuardRails(t *testing.T) {
	t.Parallel()
	doc := func(window string) string {
		return `{"clinics":[{"id":"harbour","name":"Harbour Massage","time_zone":"Europe/London",` + window + `,
		 "sender":{"from":"+447700900100"},"contact_phone":"+442079460000","intake_token_env":"HARBOUR_TOKEN",
		 "escalation":{"on_call_phone":"+447700900199"}}]}`
	}
	tests := []struct {
		window, want string // want: "" to start
	}{
		{`"send_window":"* 9-19 * * *"`, ""},
		{`"send_window":"* 8-20 * * *"`, ""},
		{`"send_window":"* 8-19 * * *","send_window_region":"us-fl"`, ""},
		{`"send_window":"* * * * *"`, `clinic "harbour": send_window: send window "* * * * *" opens at 00:00, outside 08:00-21:00`},
		{`"send_window":"* 7-18 * * *"`, "opens at 07:00"},
		{`"send_window":"* 8-20 * * *","send_window_region":"us-fl"`, `opens at 20:00, outside 08:00-20:00 in the recipient's zone (send_window_region "us-fl")`},
		{`"send_window":"* 9-19 * * *","send_window_region":"us-tx"`, `send_window_region "us-tx" is not one we know`},
	}
	for _, tt := range tests {
		for _, load := range []func(func(string) string) error{
			func(env func(string) string) error { _, _, err := config.LoadScheduler(env); return err },
			func(env func(string) string) error { _, _, err := config.LoadWorker(env); return err },
		} {
			err := load(getenv(map[string]string{"CLINICS_FILE": writeClinics(t, doc(tt.window)), "HARBOUR_TOKEN": strings.Repeat("x", 32)}))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("%s: %v", tt.window, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("%s: error %v, want it to say %q", tt.window, err, tt.want)
			}
		}
	}
	// Local runs and tests with offsets in seconds may open every minute.
	_, _, err := config.LoadScheduler(getenv(map[string]string{"CLINICS_FILE": writeClinics(t, doc(`"send_window":"* * * * *"`)),
		"HARBOUR_TOKEN": strings.Repeat("x", 32), "ALLOW_ANY_SEND_WINDOW": "true"}))
	if err != nil {
		t.Errorf("ALLOW_ANY_SEND_WINDOW=true: %v", err)
	}
}

func TestFrequencyCapSettings(t *testing.T) {
	t.Parallel()
	base := map[string]string{"CLINICS_FILE": writeClinics(t, clinics), "HARBOUR_TOKEN": strings.Repeat("x", 32)}
	cfg, _, err := config.LoadScheduler(getenv(base))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Caps(); c.PerDay != 1 || c.PerWeek != 3 {
		t.Errorf("default caps %+v, want 1 a day and 3 a week", c)
	}
	for k, v := range map[string]string{"FREQUENCY_CAP_PER_DAY": "-1", "FREQUENCY_CAP_PER_WEEK": "soon"} {
		vars := map[string]string{k: v}
		for bk, bv := range base {
			vars[bk] = bv
		}
		if _, _, err := config.LoadScheduler(getenv(vars)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: error %v does not name it", k, v, err)
		}
	}
	doc := func(caps string) []byte {
		return []byte(`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
		  "intake_token_env":"T","escalation":{"on_call_phone":"+447700900199"},"frequency_cap":` + caps + `}]}`)
	}
	env := getenv(map[string]string{"T": strings.Repeat("t", 32)})
	if list, err := config.ParseClinics(doc(`{"per_day":1,"per_week":2}`), env, true); err != nil || list[0].FrequencyCap.PerWeek != 2 {
		t.Errorf("frequency_cap: %+v, %v", list, err)
	}
	for _, bad := range []string{`{"per_day":-1}`, `{"per_day":3,"per_week":2}`} {
		if _, err := config.ParseClinics(doc(bad), env, true); err == nil || !strings.Contains(err.Error(), `clinic "a": frequency_cap`) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// A clinic's texts are checked when the program starts: a bad one stops it,
// naming the clinic and the text.
func TestClinicTextsCheckedAtStart(t *testing.T) {
	t.Parallel()
	doc := func(texts string) string {
		return `{"clinics":[{"id":"harbour","name":"Harbour Massage","time_zone":"Europe/London","rebook_url":"https://harbour.example/book",
		 "sender":{"from":"+447700900100"},"contact_phone":"+442079460000","intake_token_env":"HARBOUR_TOKEN",
		 "escalation":{"on_call_phone":"+447700900199"},"texts":` + texts + `}]}`
	}
	good := `{"deep_tissue":{"en":["Hi {first_name}, {clinic} {clinic_phone}: water. Book {rebook_url} Reply STOP to opt out",
	  "{clinic} {clinic_phone}: ice. Reply STOP to opt out","{clinic} {clinic_phone}: stretch. Reply STOP to opt out"]}}`
	env := map[string]string{"CLINICS_FILE": writeClinics(t, doc(good)), "HARBOUR_TOKEN": strings.Repeat("x", 32)}
	if _, _, err := config.LoadWorker(getenv(env)); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(good, " Reply STOP to opt out\",\n", "\",\n", 1)
	env["CLINICS_FILE"] = writeClinics(t, doc(bad))
	for _, load := range []func() error{
		func() error { _, _, err := config.LoadWorker(getenv(env)); return err },
		func() error { _, _, err := config.LoadScheduler(getenv(env)); return err },
	} {
		if err := load(); err == nil || !strings.Contains(err.Error(), `clinic "harbour": texts.deep_tissue.en day 1: must keep the opt-out hint`) {
			t.Errorf("a text without the opt-out hint: %v", err)
		}
	}
}
