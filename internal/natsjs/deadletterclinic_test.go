package natsjs_test

import (
	"testing"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// Each kind of dead letter names its clinic at its own place; a token that
// merely equals a clinic's id elsewhere (another clinic's session called
// after it) is not that clinic's.
func TestDeadLetterClinic(t *testing.T) {
	t.Parallel()
	for subject, want := range map[string]string{
		"deadletter.followup.harbour.s1.2":            "harbour",
		"deadletter.followup.harbour.undecodable":     "harbour",
		"deadletter.followup.undecodable":             "",
		"deadletter.escalation.harbour.esc_1":         "harbour",
		"deadletter.replies.harbour":                  "harbour",
		"deadletter.booking.harbour.square":           "harbour",
		"deadletter.outbox.harbour.conv.r1":           "harbour",
		"deadletter.session.sessions.sol.harbour":     "sol",
		"deadletter.record.aftercare_clients.harbour": "harbour",
		"deadletter.erasure.erasure.client.harbour":   "harbour",
		"deadletter.erasure.twilio.sol":               "sol",
		"deadletter.session":                          "",
		"sessions.harbour.s1":                         "",
	} {
		if got := natsjs.DeadLetterClinic(subject); got != want {
			t.Errorf("DeadLetterClinic(%q) = %q, want %q", subject, got, want)
		}
	}
}
