package erasure_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/phone"
)

// Review: a dead letter is taken as the clinic's when any token of its
// subject equals the clinic's id (erasure.found.deadLetters), not the token
// that names the clinic. The scheduler dead-letters a session event it
// cannot plan as deadletter.session.sessions.<clinic>.<session>, so sol's
// event for a session its booking system calls "harbour" is taken as
// harbour's: harbour's export of a number that is a client of both clinics
// shows sol's event (name, zone, consent), and harbour's erasure deletes
// it. (Retention of harbour's dead letters matches the same way.)
func TestReviewAnotherClinicsDeadLetterIsNotTakenForASessionNamedLikeTheClinic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	st := b.env.Store
	b.client(t, "harbour", client, "s1", "SM01")
	end := b.now.Add(-time.Hour)
	ev := aftercare.SessionEvent{EventID: "sol-ev-1", ClinicID: "sol", SessionID: "harbour", Kind: aftercare.KindCompleted, SessionEnd: &end,
		Client: &aftercare.Client{Phone: client, Name: "Sam at Sol", TimeZone: "Mars/Olympus_Mons"}}
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeadLetter(ctx, "session", "sessions.sol.harbour", data, "event sol-ev-1: client.time_zone is not a known zone"); err != nil {
		t.Fatal(err)
	}
	x, err := b.svc.Export(ctx, "harbour", client)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range x.DeadLetters {
		if strings.Contains(d.Subject, ".sol.") {
			t.Errorf("harbour's export holds sol's dead letter %s: %s", d.Subject, d.Data)
		}
	}
	if _, err := b.svc.Erase(ctx, "harbour", client); err != nil {
		t.Fatal(err)
	}
	if n := b.env.Count(t, natsjs.StreamDeadLetter, "deadletter.session.sessions.sol.>"); n != 1 {
		t.Errorf("%d of sol's dead letters left after harbour's erasure, want 1 (it is sol's)", n)
	}
}

// Review: a refused booking is dead-lettered as the booking system sent it,
// with the number as the client typed it into the booking form. The
// service reads "07700 - 900 401" and "+44\u00a07700\u00a0900401" (a JSON
// encoder's escape of a no-break space, as Python's json.dumps writes it)
// as the client's number (libphonenumber strips that punctuation), but
// phone.Written allows at most two ASCII separators between digits, so the
// erasure does not find these dead letters: the client's name and number
// survive it, and the export leaves them out.
func TestReviewBookingDeadLetterWithTheNumberAsTypedIsErased(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.client(t, "harbour", client, "s1", "SM01")
	payloads := []string{
		`{"event":"invitee.created","payload":{"name":"Ana Typed","text_reminder_number":"07700 - 900 401"}}`,
		`{"event":"invitee.created","payload":{"name":"Ana Escaped","text_reminder_number":"+44\u00a07700\u00a0900401"}}`,
	}
	rules := phone.Rules{Countries: []string{"GB"}}
	for i, p := range payloads {
		var v struct {
			Payload struct {
				Number string `json:"text_reminder_number"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(p), &v); err != nil {
			t.Fatal(err)
		}
		if got, err := rules.Textable(v.Payload.Number); err != nil || got != client {
			t.Fatalf("the service reads %q as %q, %v; the test wants it read as %s", v.Payload.Number, got, err, client)
		}
		if err := b.env.Store.DeadLetter(ctx, "booking", "harbour.calendly", []byte(p), "cannot follow up this booking: no end_time "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	x, err := b.svc.Export(ctx, "harbour", client)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.DeadLetters) != 4 {
		t.Errorf("export lists %d dead letters, want 4 (the client's two, and the two refused bookings)", len(x.DeadLetters))
	}
	if _, err := b.svc.Erase(ctx, "harbour", client); err != nil {
		t.Fatal(err)
	}
	for _, hit := range natsjstest.Find(t, b.env.Conn.JS, nil, "Ana Typed", "Ana Escaped") {
		t.Errorf("after erasure: %s", hit)
	}
}
