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
