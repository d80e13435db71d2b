package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/staff"
)

// An export after an erasure reads what was kept (the escalation), and is
// audited, but names the client nowhere: before, recording the export made
// the conversation a new audit id, stored under its id (a hash of the
// number) in aftercare_audit_ids, linking the number again. The entry is
// the clinic's, with no number; an export before the erasure is filed
// under the conversation as before.
func TestExportAfterErasureWritesNothingNamingTheClient(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	dir := natsjstest.Clinics(t)
	log := natsjstest.Logger()
	ctx := context.Background()
	audit := &staff.Audit{JS: env.Store.JetStream(), Now: time.Now}
	svc := &erasure.Service{Store: env.Store, Inbox: &inbox.Store{S: env.Store, Clinics: dir, Steps: 3}, Audit: audit, Steps: 3, Now: time.Now,
		EscalationRetention: natsjs.DefaultEscalationRetention}
	api := &httpapi.SchedulerAPI{Intake: &intake.Service{Store: env.Store, Clinics: dir, Now: time.Now, Log: log}, Store: env.Store, Steps: 3,
		Ready: func() error { return nil }, Now: time.Now, Log: log, Audit: audit, Erasure: svc}
	srv := httptest.NewServer(httpapi.SchedulerRoutes(api))
	t.Cleanup(srv.Close)

	const phone = "+447700900123"
	conv := inbox.ConversationID("harbour", phone)
	in := aftercare.InboundSMS{MessageSID: "SM1", From: phone, To: "+447700900100", Body: "much worse", ClinicID: "harbour", ReceivedAt: time.Now()}
	if _, err := env.Store.SaveReply(ctx, aftercare.Reply{InboundSMS: in}, 0); err != nil {
		t.Fatal(err)
	}
	e := aftercare.Escalation{ID: "esc_SM1", ClinicID: "harbour", ClientPhone: phone, Class: "worsening", ReplySID: "SM1", RaisedAt: time.Now(), Status: aftercare.EscalationOpen}
	if _, err := env.Store.SaveEscalation(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	export := func() (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/clients/%2B447700900123/export", nil)
		req.Header.Set("Authorization", "Bearer "+natsjstest.HarbourToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(raw)
	}
	if status, body := export(); status != 200 || !strings.Contains(body, `"much worse"`) {
		t.Fatalf("export before erasure: %d %s", status, body)
	}
	if entries, err := audit.History(ctx, "harbour", staff.KindConversation, conv); err != nil || len(entries) != 1 || entries[0].Action != "export" {
		t.Errorf("before erasure, the conversation's history: %+v %v, want the export", entries, err)
	}
	if _, err := svc.Erase(ctx, "harbour", phone); err != nil {
		t.Fatal(err)
	}

	if status, body := export(); status != 200 || !strings.Contains(body, `"esc_SM1"`) {
		t.Fatalf("export after erasure: %d %s, want the escalation kept", status, body)
	}
	for _, hit := range natsjstest.Find(t, env.Store.JetStream(), []string{"KV_" + natsjs.BucketEscalations}, "447700900123", conv) {
		t.Errorf("after erasure and an export: %s", hit)
	}
	if n := natsjstest.CountSubjects(t, env.Store.JetStream(), natsjs.StreamAudit, "staffaudit.harbour.clinic.harbour"); n != 1 {
		t.Errorf("%d export entries under the clinic, want the export after the erasure", n)
	}
	if entries, err := audit.History(ctx, "harbour", staff.KindConversation, conv); err != nil || len(entries) != 0 {
		t.Errorf("after erasure, the conversation's history: %+v %v, want none", entries, err)
	}
}
