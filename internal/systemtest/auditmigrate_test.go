package systemtest

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/staff"
)

// A deployment upgraded from one whose audit stream (AFTERCARE_AUDIT)
// holds staff replies' text and names conversations by the unsalted hash:
// the scheduler warns at start, and "scheduler audit migrate" copies it
// without either and deletes it; the conversation's history is whole,
// under its new audit id, and a second run has nothing to do.
func TestAuditMigrateCommand(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	store, js := s.store()
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: natsjs.RetiredStreamAudit, Subjects: []string{"audit.>"}, DenyDelete: true, DenyPurge: true}); err != nil {
		t.Fatal(err)
	}
	conv := aftercare.ConversationID("harbour", "+447700900651")
	const text = "rest it tonight and call us tomorrow"
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_1", Name: "Dana"}
	for _, e := range []staff.Entry{
		{ClinicID: "harbour", Author: dana, Action: "reply", Kind: "conversation", Target: conv, Note: text},
		{ClinicID: "harbour", Author: dana, Action: "done", Kind: "conversation", Target: conv},
	} {
		data, _ := json.Marshal(e)
		if _, err := js.Publish(ctx, "audit.harbour.conversation."+conv, data); err != nil {
			t.Fatal(err)
		}
	}
	scheduler := s.start("scheduler")
	if !strings.Contains(scheduler.Logs(), "scheduler audit migrate") {
		t.Error("the scheduler did not warn of the old audit stream")
	}

	cmd := exec.Command(filepath.Join(binDir, "scheduler"), "audit", "migrate")
	cmd.Env = []string{"NATS_URL=" + s.natsURL, "CLINICS_FILE=" + s.clinics, "HARBOUR_TOKEN=" + token, "SOL_TOKEN=" + solToken,
		"HARBOUR_WEBHOOK_SECRET=" + webhookSecret, "ALLOW_ANY_SEND_WINDOW=true", "LOG_LEVEL=error"}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "copied 2 entries") {
		t.Fatalf("audit migrate: %v\n%s", err, out)
	}
	if _, err := js.Stream(ctx, natsjs.RetiredStreamAudit); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("the old stream: %v, want it deleted", err)
	}
	for _, hit := range natsjstest.Find(t, js, []string{"KV_" + natsjs.BucketAuditIDs}, conv, text) {
		t.Errorf("after migration: %s", hit)
	}
	audit := &staff.Audit{JS: store.JetStream()}
	h, err := audit.History(ctx, "harbour", staff.KindConversation, conv)
	if err != nil || len(h) != 2 || h[0].Note != staff.ReplyTextRemoved || h[1].Action != "done" {
		t.Errorf("history after migration: %+v %v", h, err)
	}
	again := exec.Command(filepath.Join(binDir, "scheduler"), "audit", "migrate")
	again.Env = cmd.Env
	if out, err := again.CombinedOutput(); err != nil || !strings.Contains(string(out), "nothing to migrate") {
		t.Errorf("second run: %v\n%s", err, out)
	}
}
