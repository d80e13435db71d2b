package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Retention through the scheduler binary: harbour keeps texts 10 days,
// escalations a year and dead letters 2 seconds; sol keeps the service's
// ages (NATS_RETENTION 30 days, escalations 8 years, dead letters 14
// days). Each clinic has a client last seen 20 days ago (session, client
// record, a text), an escalation raised 2 years ago and a dead letter;
// harbour also a client seen now (a real session). The retention job (RETENTION_SCHEDULE
// every second) removes harbour's old client with their session and text,
// its old escalation and its dead letter; harbour's new client and all of
// sol's stay.
func TestRetentionPerClinicThroughTheScheduler(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	cfg, err := os.ReadFile(s.clinics)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `"intake_token_env":"HARBOUR_TOKEN",`,
		`"intake_token_env":"HARBOUR_TOKEN","retention":{"texts":"240h","escalations":"8760h","dead_letters":"2s"},`, 1))
	if err := os.WriteFile(s.clinics, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	store, _ := s.store()
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.Add(-20 * 24 * time.Hour)
	const oldClient, newClient = "+447700900631", "+447700900632"
	for _, clinic := range []string{"harbour", "sol"} {
		session := clinic + "-old"
		if _, err := store.SaveSession(ctx, aftercare.Session{ClinicID: clinic, SessionID: session, Status: aftercare.SessionActive,
			Client: aftercare.Client{Phone: oldClient}, End: old}, 0); err != nil {
			t.Fatal(err)
		}
		if err := store.NoteClientSession(ctx, clinic, oldClient, aftercare.ClientSession{SessionID: session, End: old}, old); err != nil {
			t.Fatal(err)
		}
		in := aftercare.InboundSMS{MessageSID: "SM" + clinic + "old", From: oldClient, To: "+447700900100", Body: "still a bit stiff", ClinicID: clinic, ReceivedAt: old}
		if _, err := store.SaveReply(ctx, aftercare.Reply{InboundSMS: in, SessionID: session}, 0); err != nil {
			t.Fatal(err)
		}
		e := aftercare.Escalation{ID: "esc_" + clinic + "old", ClinicID: clinic, SessionID: session, ClientPhone: oldClient, Class: "worsening",
			ReplySID: in.MessageSID, RaisedAt: now.Add(-2 * 365 * 24 * time.Hour), Status: aftercare.EscalationResolved}
		if _, err := store.SaveEscalation(ctx, e, 0); err != nil {
			t.Fatal(err)
		}
		due, _ := json.Marshal(aftercare.DueFollowUp{ClinicID: clinic, SessionID: session, Step: 2})
		if err := store.DeadLetter(ctx, "followup", clinic+"."+session+".2", due, "Twilio error 30003"); err != nil {
			t.Fatal(err)
		}
	}
	scheduler := s.start("scheduler", "RETENTION_SCHEDULE=@every 1s", "RETENTION_MAX_PER_RUN=10")
	if status, _ := s.post(scheduler, event("rt-1", "harbour-new", "completed", newClient, now)); status != http.StatusAccepted {
		t.Fatalf("harbour's new session: %d", status)
	}

	gone := func(err error) bool { return errors.Is(err, aftercare.ErrNotFound) }
	waitFor(t, 30*time.Second, "harbour's old records removed by retention", func() bool {
		_, _, c := store.Client(ctx, "harbour", oldClient)
		_, _, r := store.Reply(ctx, "harbour", "SMharbourold")
		_, _, e := store.Escalation(ctx, "harbour", "esc_harbourold")
		dl, err := store.DeadLetters(ctx, "deadletter.followup.harbour.>")
		return gone(c) && gone(r) && gone(e) && err == nil && len(dl) == 0
	})
	if _, _, err := store.Session(ctx, "harbour", "harbour-old"); !gone(err) {
		t.Errorf("harbour's old session: %v, want it gone", err)
	}
	waitFor(t, 10*time.Second, "harbour's new client planned", func() bool {
		_, _, err := store.Client(ctx, "harbour", newClient)
		return err == nil
	})
	// Sol keeps everything: its ages are the service's.
	if _, _, err := store.Client(ctx, "sol", oldClient); err != nil {
		t.Errorf("sol's old client: %v", err)
	}
	if _, _, err := store.Session(ctx, "sol", "sol-old"); err != nil {
		t.Errorf("sol's old session: %v", err)
	}
	if _, _, err := store.Reply(ctx, "sol", "SMsolold"); err != nil {
		t.Errorf("sol's old text: %v", err)
	}
	if _, _, err := store.Escalation(ctx, "sol", "esc_solold"); err != nil {
		t.Errorf("sol's escalation: %v", err)
	}
	if dl, err := store.DeadLetters(ctx, "deadletter.followup.sol.>"); err != nil || len(dl) != 1 {
		t.Errorf("sol's dead letters: %d %v, want 1", len(dl), err)
	}
	if !strings.Contains(scheduler.Logs(), `"msg":"retention done"`) {
		t.Error("no retention run in the scheduler's logs")
	}
}
