package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/staff"
)

// Export and erasure of a client's data: the clinic's own token or a
// clinic_admin's staff token, never a clinician's nor another clinic's; a
// number that is not E.164 is a 400 naming the phone; each is audited
// under the conversation's id, with no number in the entry.
func TestClientExportAndErasureAPI(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	dir := natsjstest.Clinics(t)
	log := natsjstest.Logger()
	ctx := context.Background()
	audit := &staff.Audit{JS: env.Store.JetStream(), Now: time.Now}
	staffSvc := staff.New(env.Store, staff.Limits{PerAccount: 10, PerAddress: 100}, time.Now, log)
	api := &httpapi.SchedulerAPI{Intake: &intake.Service{Store: env.Store, Clinics: dir, Now: time.Now, Log: log}, Store: env.Store, Steps: 3,
		Ready: func() error { return nil }, Now: time.Now, Log: log, Staff: staffSvc, Audit: audit,
		Erasure: &erasure.Service{Store: env.Store, Inbox: &inbox.Store{S: env.Store, Clinics: dir, Steps: 3}, Audit: audit, Steps: 3, Now: time.Now,
			EscalationRetention: natsjs.DefaultEscalationRetention}}
	api.ErasureJobs = &erasure.Jobs{Service: api.Erasure, Store: env.Store, Now: time.Now, Log: log}
	// The scheduler's runner of erasure jobs.
	cons, err := natsjs.ClientEraseConsumer(ctx, env.Store.JetStream(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stop := (&jobs.Runner{Name: "erase", Consumer: cons, Concurrency: 1, Handle: api.ErasureJobs.Handle, JobTimeout: time.Minute, UnexpectedDelay: 100 * time.Millisecond, Log: log,
		DeadLetter: func(context.Context, jetstream.Msg, string) error { return nil }}).Start()
	t.Cleanup(func() { _ = stop(context.Background()) })
	srv := httptest.NewServer(httpapi.SchedulerRoutes(api))
	t.Cleanup(srv.Close)
	token := func(role staff.Role, email string) string {
		a, err := staffSvc.Create(ctx, staff.NewAccount{ClinicID: "harbour", Email: email, Name: string(role), Role: role, Password: "correct horse battery"},
			aftercare.Author{Kind: aftercare.AuthorSystem, Name: "test"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := staffSvc.NewAPIToken(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin, clinician := token(staff.ClinicAdmin, "admin@harbour.example"), token(staff.Clinician, "dana@harbour.example")

	const phone = "+447700900123"
	in := aftercare.InboundSMS{MessageSID: "SM1", From: phone, To: "+447700900100", Body: "bit sore", ClinicID: "harbour", ReceivedAt: time.Now()}
	if _, err := env.Store.SaveReply(ctx, aftercare.Reply{InboundSMS: in}, 0); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(raw)
	}
	var jobURL string
	for _, c := range []struct {
		name, method, path, bearer string
		status                     int
		says                       string
	}{
		{"no token", "GET", "/v1/clients/%2B447700900123/export", "", 401, "credential"},
		{"another clinic's token", "GET", "/v1/clients/%2B447700900123/export", natsjstest.SolToken, 404, "nothing is held"},
		{"a clinician's staff token", "DELETE", "/v1/clients/%2B447700900123", clinician, 403, "clinic_admin"},
		{"not E.164", "GET", "/v1/clients/07700900123/export", natsjstest.HarbourToken, 400, "phone in the URL path"},
		{"export, clinic token", "GET", "/v1/clients/%2B447700900123/export", natsjstest.HarbourToken, 200, `"body":"bit sore"`},
		{"export, admin's token", "GET", "/v1/clients/+447700900123/export", admin, 200, `"message_sid":"SM1"`},
		{"erase, admin's token", "DELETE", "/v1/clients/%2B447700900123", admin, 202, `"status_url":"/v1/erasures/era_`},
		{"the erasure's answer", "ERASED", "", admin, 200, `"replies":1`},
		// The audit entries are kept, but nothing links them to the number.
		{"export after erasure: nothing", "GET", "/v1/clients/%2B447700900123/export", natsjstest.HarbourToken, 404, "nothing is held"},
		{"erase again", "DELETE", "/v1/clients/%2B447700900123", natsjstest.HarbourToken, 202, `"status":"queued"`},
		{"the second erasure's answer", "ERASED", "", natsjstest.HarbourToken, 200, `"replies":0`},
		{"another clinic's token reads no job", "GET", "/v1/erasures/era_0000", natsjstest.SolToken, 404, "no erasure job"},
	} {
		if c.method == "ERASED" {
			// Poll the last erasure's job until it is done.
			var job string
			for deadline := time.Now().Add(20 * time.Second); !strings.Contains(job, `"status":"done"`) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				_, job = call("GET", jobURL, c.bearer)
			}
			if !strings.Contains(job, c.says) {
				t.Errorf("%s: %s, want it saying %s", c.name, job, c.says)
			}
			continue
		}
		status, body := call(c.method, c.path, c.bearer)
		if m := regexp.MustCompile(`"status_url":"([^"]+)"`).FindStringSubmatch(body); m != nil {
			jobURL = m[1]
		}
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s, want %d saying %s", c.name, status, body, c.status, c.says)
		}
		if c.method == "DELETE" && strings.Contains(body, "447700900123") {
			t.Errorf("%s: the answer holds the number: %s", c.name, body)
		}
	}

	// Each export and erasure is audited; after the erasure, the entries
	// are found under the conversation no more, and name neither the
	// number nor the conversation's inbox id.
	if entries, err := audit.History(ctx, "harbour", "conversation", inbox.ConversationID("harbour", phone)); err != nil || len(entries) != 0 {
		t.Errorf("history after erasure: %+v %v", entries, err)
	}
	if n := natsjstest.CountSubjects(t, env.Store.JetStream(), natsjs.StreamAudit, "staffaudit.harbour.conversation.>"); n != 4 {
		t.Errorf("%d audit entries, want 4: two exports, two erasures", n)
	}
	for _, hit := range natsjstest.Find(t, env.Store.JetStream(), []string{"KV_" + natsjs.BucketReplies, "AFTERCARE_REPLIES"}, "447700900123", inbox.ConversationID("harbour", phone)) {
		if strings.Contains(hit, natsjs.StreamAudit) || strings.Contains(hit, natsjs.BucketAuditIDs) {
			t.Errorf("after erasure: %s", hit)
		}
	}
}
