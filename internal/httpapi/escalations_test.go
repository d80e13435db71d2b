package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// Notes, acknowledgements and resolutions through the JSON API are
// appended to the escalation's history with their authors: a second note
// no longer overwrites the first. The author is the person authentication
// named, when it did (the inbox's staff tokens), else the "by" given with
// the shared token; the old fields stay, derived from the history.
func TestEscalationHistoryThroughAPI(t *testing.T) {
	t.Parallel()
	env := natsjstest.Start(t)
	dir := natsjstest.Clinics(t)
	svc := &intake.Service{Store: env.Store, Clinics: dir, Now: time.Now, Log: natsjstest.Logger(), MaxBody: 4096}
	api := &httpapi.SchedulerAPI{Intake: svc, Store: env.Store, Steps: 3, Ready: func() error { return nil }, Now: time.Now, Log: natsjstest.Logger()}
	routes := httpapi.SchedulerRoutes(api)
	ana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "st_ana", Name: "Ana Ruiz"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What a staff-token middleware does: name the person.
		if r.Header.Get("X-Test-Staff") != "" {
			r = r.WithContext(aftercare.WithAuthor(r.Context(), ana))
		}
		routes.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	e := aftercare.Escalation{ID: "esc_SM9", ClinicID: "harbour", ClientPhone: "+447700900123", Status: aftercare.EscalationOpen, RaisedAt: time.Now()}
	if _, err := env.Store.SaveEscalation(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	call := func(path, body string, staff bool) (int, aftercare.Escalation, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/escalations/esc_SM9/"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+natsjstest.HarbourToken)
		if staff {
			req.Header.Set("X-Test-Staff", "1")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out aftercare.Escalation
		_ = json.Unmarshal(raw, &out)
		return res.StatusCode, out, string(raw)
	}
	if code, _, body := call("acknowledge", `{"by":"front desk","note":"first: calling her"}`, false); code != 200 {
		t.Fatalf("acknowledge: %d %s", code, body)
	}
	if code, _, body := call("notes", `{"note":"second: left a voicemail"}`, true); code != 200 {
		t.Fatalf("note: %d %s", code, body)
	}
	if code, _, body := call("notes", `{"by":"x"}`, false); code != 400 || !strings.Contains(body, "note is required") {
		t.Fatalf("empty note: %d %s, want 400 naming the note", code, body)
	}
	if code, _, body := call("assign", `{"assign_to":"Ben"}`, true); code != 200 {
		t.Fatalf("assign: %d %s", code, body)
	}
	code, got, body := call("resolve", `{"note":"third: she is fine"}`, true)
	if code != 200 {
		t.Fatalf("resolve: %d %s", code, body)
	}
	if code, _, body := call("assign", `{"assign_to":"Ben"}`, true); code != 409 {
		t.Fatalf("assigning a resolved escalation: %d %s, want 409", code, body)
	}
	want := []struct {
		kind aftercare.EntryKind
		by   aftercare.Author
		note string
	}{
		{aftercare.EntryAcknowledged, aftercare.Author{Kind: aftercare.AuthorAPI, Name: "front desk"}, "first: calling her"},
		{aftercare.EntryNote, ana, "second: left a voicemail"},
		{aftercare.EntryAssigned, ana, ""},
		{aftercare.EntryResolved, ana, "third: she is fine"},
	}
	if len(got.History) != len(want) {
		t.Fatalf("history %+v: want %d entries", got.History, len(want))
	}
	for i, w := range want {
		if h := got.History[i]; h.Kind != w.kind || h.By != w.by || h.Note != w.note {
			t.Errorf("entry %d: %+v, want %+v", i, h, w)
		}
	}
	if got.AcknowledgedBy != "front desk" || got.ResolvedBy != "Ana Ruiz" || got.Note != "third: she is fine" || got.Owner == nil || got.Owner.Name != "Ben" {
		t.Errorf("derived fields: acknowledged_by %q resolved_by %q note %q owner %+v", got.AcknowledgedBy, got.ResolvedBy, got.Note, got.Owner)
	}
}
