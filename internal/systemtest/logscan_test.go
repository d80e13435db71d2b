package systemtest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/tips"
)

// Every program a system test starts has its logs (at debug level) scanned
// when the test ends: no secret, no client's full number and no message text
// may be in them. This runs over every scenario the system tests drive,
// failures and attacks included.

// clinicNumbers are the clinics' own numbers (senders, on-call and contact
// phones): they are not a client's, and logs may name them.
var clinicNumbers = []string{"+447700900100", "+447700900199", "+442079460000", "+525555550001", "+525555550100", "+525555550199"}

// fullNumber matches a full number, with its "+" or without (records keyed
// by number drop it, and so did their keys in errors), standing alone: not
// inside a longer token such as a message SID's hex, not a JSON number
// (durations are logged in nanoseconds). Without "+" it takes 10 digits or
// more, which a country code and a national number always make and a
// timestamp's fraction of a second (9 digits) never does.
var fullNumber = regexp.MustCompile(`(?:^|[^0-9A-Za-z:*+])(\+\d{8,15}|\d{10,15})(?:$|[^0-9A-Za-z*])`)

// secretEnv names the environment variables that hold secrets.
var secretEnv = regexp.MustCompile(`(TOKEN|SECRET|KEY)=`)

// replyBodies remembers the texts tests sent as clients, to look for them in
// the logs. Short ones ("STOP", "7") are left out: they are words logs use.
type replyBodies struct {
	mu     sync.Mutex
	bodies []string
}

func (r *replyBodies) add(body string) {
	if len(body) < 12 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, body)
}

func (r *replyBodies) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

// followUpTexts are the follow-ups' texts without the clinic's name.
func followUpTexts() []string {
	var out []string
	for _, lang := range tips.Languages() {
		for step := aftercare.Step(1); step <= tips.Steps; step++ {
			text, err := tips.Render(step, tips.TipFields{Clinic: "Clinic", ClinicPhone: "+442079460000"}, lang)
			if err != nil {
				panic(err)
			}
			out = append(out, strings.TrimPrefix(text, "Clinic: "))
		}
	}
	return out
}

// logLeaks lists what logs hold that they must not: the value of any secret
// in env, a full number that is not a clinic's, a follow-up's text or a
// client's reply.
func logLeaks(logs string, env, replies []string) []string {
	var leaks []string
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if secretEnv.MatchString(name+"=") && value != "" && strings.Contains(logs, value) {
			leaks = append(leaks, "the value of "+name)
		}
	}
	for _, m := range fullNumber.FindAllStringSubmatch(logs, -1) {
		n := "+" + strings.TrimPrefix(m[1], "+")
		if !slices.Contains(clinicNumbers, n) {
			leaks = append(leaks, "a client's full number, "+aftercare.MaskPhone(n))
			break
		}
	}
	for _, text := range followUpTexts() {
		if strings.Contains(logs, text) {
			leaks = append(leaks, fmt.Sprintf("a follow-up's text %.20q...", text))
		}
	}
	for _, body := range replies {
		if strings.Contains(logs, body) || strings.Contains(logs, jsonEscape(body)) {
			leaks = append(leaks, fmt.Sprintf("a client's reply %.8q...", body))
		}
	}
	return leaks
}

// The scan itself must find what it looks for, and pass masked numbers.
func TestLogLeaksFindsWhatItLooksFor(t *testing.T) {
	env := []string{"HARBOUR_TOKEN=" + token, "LOG_LEVEL=debug"}
	day1, _ := tips.Render(1, tips.TipFields{Clinic: "Harbour Massage", ClinicPhone: "+442079460000"}, "en")
	for _, clean := range []string{
		`{"msg":"sent","to":"` + aftercare.MaskPhone("+447700900123") + `","from":"+447700900100","level":"debug"}`,
		`{"msg":"job error","err":"decode aftercare_clients harbour.447*******23: corrupt record"}`,
		`{"msg":"sent","sid":"SM00000000000000000000000000000001","after":2000000000,"from":"447700900100"}`,
		`{"time":"2026-12-01T10:00:00.123456789+01:00","msg":"ok"}`,
	} {
		if leaks := logLeaks(clean, env, []string{"my leg is numb and tingling"}); len(leaks) != 0 {
			t.Errorf("clean logs %s reported: %v", clean, leaks)
		}
	}
	for _, dirty := range []string{
		`{"msg":"auth","token":"` + token + `"}`,
		`{"msg":"sent","to":"+447700900123"}`,
		`{"msg":"job error","err":"decode aftercare_clients harbour.447700900123: corrupt record"}`,
		`msg="job error" key=447700900123`,
		`{"msg":"sent","body":"` + day1 + `"}`,
		`{"msg":"reply","body":"my leg is numb and tingling"}`,
	} {
		if leaks := logLeaks(dirty, env, []string{"my leg is numb and tingling"}); len(leaks) != 1 {
			t.Errorf("%s: want one leak, got %v", dirty, leaks)
		}
	}
}
