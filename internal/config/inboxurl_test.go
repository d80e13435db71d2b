package config_test

import (
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/config"
)

// inbox_url goes into on-call alerts as a link: the inbox's own https
// address, or the file is refused naming it.
func TestInboxURLIsTheInboxsAddress(t *testing.T) {
	t.Parallel()
	doc := func(inbox string) []byte {
		return []byte(`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
		  "intake_token_env":"T","escalation":{"on_call_phone":"+447700900199"},"inbox_url":"` + inbox + `","alert_details":true}]}`)
	}
	env := getenv(map[string]string{"T": strings.Repeat("t", 32)})
	for _, good := range []string{"https://aftercare.example/inbox", "https://aftercare.example/inbox/", "http://127.0.0.1:8080/inbox"} {
		list, err := config.ParseClinics(doc(good), env, true)
		if err != nil || list[0].InboxURL != good || !list[0].AlertDetails {
			t.Errorf("%q: %+v %v", good, list, err)
		}
	}
	for _, bad := range []string{"http://aftercare.example/inbox", "https://aftercare.example/", "https://aftercare.example/inbox?x=1", "inbox"} {
		if _, err := config.ParseClinics(doc(bad), env, true); err == nil || !strings.Contains(err.Error(), "inbox_url") {
			t.Errorf("%q: %v, want refused naming inbox_url", bad, err)
		}
	}
}
