package config_test

import (
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/config"
)

// reply_by goes into a text: short and GSM-7, or the file is refused
// naming it.
func TestReplyByIsCheckedForTexts(t *testing.T) {
	t.Parallel()
	doc := func(replyBy string) []byte {
		return []byte(`{"clinics":[{"id":"a","name":"A","time_zone":"UTC","sender":{"from":"+447700900100"},"contact_phone":"+442079460000",
		  "intake_token_env":"T","escalation":{"on_call_phone":"+447700900199"},"reply_by":"` + replyBy + `"}]}`)
	}
	env := getenv(map[string]string{"T": strings.Repeat("t", 32)})
	list, err := config.ParseClinics(doc("within two working days"), env, true)
	if err != nil || list[0].ReplyBy != "within two working days" {
		t.Fatalf("%+v %v", list, err)
	}
	for _, bad := range []string{strings.Repeat("x", 61), "today 🙂"} {
		if _, err := config.ParseClinics(doc(bad), env, true); err == nil || !strings.Contains(err.Error(), "reply_by must be") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
