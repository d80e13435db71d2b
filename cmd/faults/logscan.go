package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aftercare/aftercare/internal/harness"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// clientNumber matches the suite's clients' full numbers, with their "+"
// or without (records keyed by number drop it), standing alone: not inside
// a longer run of digits or a message SID, not a JSON number (durations
// are logged in nanoseconds). Logs may carry only the masked form.
var clientNumber = regexp.MustCompile(`(?:^|[^0-9A-Za-z:*+])(\+?4478\d{8})(?:$|[^0-9A-Za-z*])`)

// scanLogs looks through every process's logs (killed ones too) for what
// must never be there: a secret, a client's full number, the text of a
// message to or from a client.
func scanLogs(procs []*harness.Proc) []string {
	forbidden := map[string]string{
		intakeToken:                   "the clinic's intake token",
		webhookSecret:                 "the clinic's webhook secret",
		twiliotest.AuthToken:          "the Twilio auth token",
		"after your session":          "a follow-up's text",
		"worse today and my left leg": "a client's reply",
	}
	var leaks []string
	for _, p := range procs {
		leaks = append(leaks, leaksIn(p.Name, p.Logs(), forbidden)...)
	}
	return leaks
}

func leaksIn(name, logs string, forbidden map[string]string) []string {
	var leaks []string
	for s, what := range forbidden {
		if n := strings.Count(logs, s); n > 0 {
			leaks = append(leaks, fmt.Sprintf("%s logs hold %s %d times", name, what, n))
		}
	}
	if m := clientNumber.FindAllStringSubmatch(logs, -1); len(m) > 0 {
		leaks = append(leaks, fmt.Sprintf("%s logs hold %d full client numbers (first %s)", name, len(m), maskForReport(m[0][1])))
	}
	return leaks
}

// maskForReport keeps the report itself free of the number it found.
func maskForReport(n string) string { return n[:3] + strings.Repeat("*", len(n)-5) + n[len(n)-2:] }
