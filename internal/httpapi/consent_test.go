package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// The clinic records consent, opt-outs and opt-ins through the API (a
// client who agreed on paper, or asked by phone to stop): an opt-out stops
// the texts at once, as STOP does, and each is an entry of the record with
// channel "api" unless said otherwise; a bad entry is 422 naming every
// problem and changes nothing.
func TestConsentThroughTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const phone = "+447700900161"
	call := func(method, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, b.server.URL+"/v1/clients/"+phone+"/consent", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+natsjstest.HarbourToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}
	if status, out := call(http.MethodPost, `{"kind":"given","at":"2026-11-20T10:00:00Z","channel":"paper_form","wording":"I agree to aftercare texts","source":"Dana"}`); status != http.StatusOK {
		t.Fatalf("given: %d %s", status, out)
	}
	status, out := call(http.MethodPost, `{"kind":"opt_out"}`)
	var view httpapi.ConsentView
	if err := json.Unmarshal(out, &view); status != http.StatusOK || err != nil {
		t.Fatalf("opt_out: %d %s", status, out)
	}
	if view.ClientPhone != phone || view.Consented || !view.OptedOut || len(view.Entries) != 2 ||
		view.Entries[0].Channel != "paper_form" || view.Entries[0].Source != "Dana" ||
		view.Entries[1].Kind != aftercare.ConsentOptOut || view.Entries[1].Channel != aftercare.ChannelAPI || view.Entries[1].At.IsZero() {
		t.Errorf("after the opt-out: %+v", view)
	}
	if out, err := b.env.Store.OptedOut(context.Background(), "harbour", phone); err != nil || !out {
		t.Errorf("opted out %v %v: the API's opt-out must stop texts as STOP does", out, err)
	}
	status, out = call(http.MethodPost, `{"kind":"maybe","channel":"Paper Form"}`)
	if status != http.StatusUnprocessableEntity || !strings.Contains(string(out), `"kind"`) || !strings.Contains(string(out), `"consent.channel"`) {
		t.Errorf("a bad entry: %d %s", status, out)
	}
	if status, out = call(http.MethodPost, `{"kind":"opt_in","extra":1}`); status != http.StatusBadRequest {
		t.Errorf("an unknown field: %d %s", status, out)
	}
	if status, out = call(http.MethodGet, ""); status != http.StatusOK || strings.Count(string(out), `"kind"`) != 2 {
		t.Errorf("after refused changes: %d %s, want the two entries", status, out)
	}
}

// While a client's erasure is under way, consent given or renewed through
// the API is refused (409 naming the job) and nothing is written that the
// erasure's last pass might miss; an opt-out is still taken, as STOP is.
func TestConsentDuringAnErasure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const phone = "+447700900162"
	if _, err := b.env.Store.SetErasing(ctx, "harbour", phone, "era_0123456789abcdef0123"); err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/v1/clients/"+phone+"/consent", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+natsjstest.HarbourToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	for _, kind := range []string{"given", "opt_in"} {
		if status, out := post(`{"kind":"` + kind + `"}`); status != http.StatusConflict || !strings.Contains(out, "era_0123456789abcdef0123") {
			t.Errorf("%s during the erasure: %d %s, want 409 naming the job", kind, status, out)
		}
	}
	if c, err := b.env.Store.Consent(ctx, "harbour", phone); err == nil {
		t.Errorf("refused consent was written all the same: %+v", c)
	}
	if status, out := post(`{"kind":"opt_out"}`); status != http.StatusOK {
		t.Errorf("an opt-out during the erasure: %d %s, want it taken", status, out)
	}
	if out, err := b.env.Store.OptedOut(ctx, "harbour", phone); err != nil || !out {
		t.Errorf("opted out %v %v", out, err)
	}
}
