package aftercare_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Every acknowledgement, note, assignment and resolution is an entry with
// its author; a later one never replaces an earlier one.
func TestEscalationHistoryIsAppendOnly(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	ana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "st_1", Name: "Ana"}
	ben := aftercare.Author{Kind: aftercare.AuthorPhone, ID: "+44*******99", Name: "on-call phone"}
	e := aftercare.Escalation{Status: aftercare.EscalationOpen}

	if err := e.Acknowledge(ana, "calling her now", at); err != nil {
		t.Fatal(err)
	}
	if err := e.Acknowledge(ben, "I can take it too", at.Add(time.Minute)); !errors.Is(err, aftercare.ErrUnchanged) {
		t.Fatalf("second acknowledgement: %v, want ErrUnchanged", err)
	}
	if err := e.AddNote(ana, "left a voicemail", at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddNote(ana, "", at); !errors.Is(err, aftercare.ErrEmptyNote) {
		t.Fatalf("empty note: %v", err)
	}
	if err := e.Assign(ana, aftercare.Author{Kind: aftercare.AuthorStaff, Name: "Ben"}, at.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.Resolve(ben, "seen at A&E, fine", at.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var tr *aftercare.TransitionError
	if err := e.Acknowledge(ana, "", at.Add(5*time.Minute)); !errors.As(err, &tr) {
		t.Fatalf("acknowledging a resolved escalation: %v", err)
	}

	want := []struct {
		kind aftercare.EntryKind
		by   string
		note string
	}{
		{aftercare.EntryAcknowledged, "Ana", "calling her now"},
		{aftercare.EntryNote, "on-call phone", "I can take it too"},
		{aftercare.EntryNote, "Ana", "left a voicemail"},
		{aftercare.EntryAssigned, "Ana", ""},
		{aftercare.EntryResolved, "on-call phone", "seen at A&E, fine"},
	}
	if len(e.History) != len(want) {
		t.Fatalf("history %+v, want %d entries", e.History, len(want))
	}
	for i, w := range want {
		if h := e.History[i]; h.Kind != w.kind || h.By.Name != w.by || h.Note != w.note {
			t.Errorf("entry %d: %+v, want %+v", i, h, w)
		}
	}
	// The fields integrators read before the history are derived from it.
	if e.AcknowledgedBy != "Ana" || e.ResolvedBy != "on-call phone" || e.Note != "seen at A&E, fine" || e.Status != aftercare.EscalationResolved {
		t.Errorf("derived fields: by %q, resolved by %q, note %q, status %s", e.AcknowledgedBy, e.ResolvedBy, e.Note, e.Status)
	}
}
