package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/planner"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type bundle struct {
	env    *natsjstest.Env
	server *httptest.Server
	intake *intake.Service
}

func setup(t *testing.T) bundle {
	t.Helper()
	env := natsjstest.Start(t)
	svc := &intake.Service{Store: env.Store, Clinics: natsjstest.Clinics(t), Now: func() time.Time { return now }, Log: natsjstest.Logger(), MaxBody: 4096}
	api := &httpapi.SchedulerAPI{Intake: svc, Store: env.Store, Steps: 3, Ready: func() error { return nil }, Now: time.Now, Log: natsjstest.Logger()}
	srv := httptest.NewServer(httpapi.SchedulerRoutes(api))
	t.Cleanup(srv.Close)
	return bundle{env: env, server: srv, intake: svc}
}

func (b bundle) post(t *testing.T, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	return res.StatusCode, out
}

// storedEvents counts messages in the session-event stream.
func (b bundle) storedEvents(t *testing.T) uint64 {
	t.Helper()
	s, err := b.env.Conn.JS.Stream(context.Background(), natsjs.StreamSessions)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

const goodEvent = `{"event_id":"e1","session_id":"s1","kind":"completed","session_end":"2026-11-23T11:00:00Z",
 "client":{"phone":"+447700900123","name":"Sam","time_zone":"Europe/London","locale":"en"}}`

func TestPostSessionAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	status, body := b.post(t, natsjstest.HarbourToken, goodEvent)
	if status != http.StatusAccepted || body["duplicate"] != false || body["event_id"] != "e1" {
		t.Fatalf("got %d %v", status, body)
	}
	if n := b.storedEvents(t); n != 1 {
		t.Fatalf("stored %d events, want 1", n)
	}
	// The same event again is accepted and changes nothing.
	status, body = b.post(t, natsjstest.HarbourToken, goodEvent)
	if status != http.StatusAccepted || body["duplicate"] != true {
		t.Fatalf("repeat: got %d %v", status, body)
	}
	if n := b.storedEvents(t); n != 1 {
		t.Fatalf("after a repeat, stored %d events, want 1", n)
	}
}

func TestPostSessionRejected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name   string
		token  string
		body   string
		status int
		fields []string // expected problem fields, for 422
		says   string   // expected in the error text
	}{
		{"no credential", "", goodEvent, 401, nil, "credential"},
		{"wrong credential", "not-a-real-token-000000000000000", goodEvent, 401, nil, "credential"},
		{"another clinic's id in the body", natsjstest.SolToken, strings.Replace(goodEvent, `"event_id"`, `"clinic_id":"harbour","event_id"`, 1), 403, nil, "harbour"},
		{"malformed JSON", natsjstest.HarbourToken, `{"event_id":`, 400, nil, "JSON"},
		{"empty body", natsjstest.HarbourToken, ``, 400, nil, "empty"},
		{"unknown field", natsjstest.HarbourToken, strings.Replace(goodEvent, `"kind"`, `"knid":"x","kind"`, 1), 400, nil, "knid"},
		{"wrong type", natsjstest.HarbourToken, strings.Replace(goodEvent, `"session_id":"s1"`, `"session_id":42`, 1), 400, nil, "session_id"},
		{"time not RFC 3339", natsjstest.HarbourToken, strings.Replace(goodEvent, `2026-11-23T11:00:00Z`, `23/11/2026 11:00`, 1), 400, nil, "RFC 3339"},
		{"trailing data", natsjstest.HarbourToken, goodEvent + `{}`, 400, nil, "after the JSON"},
		{"body over the limit", natsjstest.HarbourToken, strings.Replace(goodEvent, `"Sam"`, `"`+strings.Repeat("a", 5000)+`"`, 1), 413, nil, "limit"},
		{"phone a landline", natsjstest.HarbourToken, strings.Replace(goodEvent, `+447700900123`, `020 7946 0000`, 1), 422, []string{"client.phone"}, "landline"},
		{"phone outside the clinic's countries", natsjstest.SolToken, goodEvent, 422, []string{"client.phone"}, "in MX only"},
		{"unknown time zone", natsjstest.HarbourToken, strings.Replace(goodEvent, `Europe/London`, `Europe/Atlantis`, 1), 422, []string{"client.time_zone"}, ""},
		{"end missing", natsjstest.HarbourToken, strings.Replace(goodEvent, `"session_end":"2026-11-23T11:00:00Z",`, ``, 1), 422, []string{"session_end"}, ""},
		{"end absurd", natsjstest.HarbourToken, strings.Replace(goodEvent, `2026-11-23T11:00:00Z`, `2099-01-01T00:00:00Z`, 1), 422, []string{"session_end"}, ""},
		{"unknown kind", natsjstest.HarbourToken, strings.Replace(goodEvent, `"completed"`, `"done"`, 1), 422, []string{"kind"}, ""},
		{"several at once", natsjstest.HarbourToken, strings.NewReplacer(`"done"`, ``, `+447700900123`, `555`, `"completed"`, `"nope"`).Replace(goodEvent), 422, []string{"kind", "client.phone"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := b.post(t, tt.token, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			msg, _ := body["error"].(string)
			if msg == "" {
				t.Fatalf("no error message in %v", body)
			}
			problems, _ := json.Marshal(body["problems"])
			if tt.says != "" && !strings.Contains(msg+string(problems), tt.says) {
				t.Errorf("error %q %s does not mention %q", msg, problems, tt.says)
			}
			if tt.fields != nil {
				problems, _ := body["problems"].([]any)
				var got []string
				for _, p := range problems {
					got = append(got, p.(map[string]any)["field"].(string))
				}
				if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
					t.Errorf("problems name %v, want %v", got, tt.fields)
				}
			}
		})
	}
	if n := b.storedEvents(t); n != 0 {
		t.Fatalf("rejected events must write nothing; stream holds %d", n)
	}
}

func TestGetSessionIsPerClinic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if status, _ := b.post(t, natsjstest.HarbourToken, goodEvent); status != 202 {
		t.Fatal("post failed")
	}
	// Plan it directly, as the scheduler's planner would.
	p := &planner.Planner{Store: b.env.Store, Clinics: b.intake.Clinics, Policy: plan.Policy{Offsets: plan.DefaultOffsets, Staleness: 12 * time.Hour},
		Now: func() time.Time { return now }, Log: natsjstest.Logger(), Stats: &planner.Stats{}}
	ev, _ := intake.Decode([]byte(goodEvent))
	ev.ClinicID = "harbour"
	if err := p.Apply(context.Background(), 1, ev); err != nil {
		t.Fatal(err)
	}
	get := func(token string) (int, httpapi.SessionView) {
		req, _ := http.NewRequest(http.MethodGet, b.server.URL+"/v1/sessions/s1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v httpapi.SessionView
		_ = json.NewDecoder(res.Body).Decode(&v)
		return res.StatusCode, v
	}
	status, view := get(natsjstest.HarbourToken)
	if status != 200 || len(view.FollowUps) != 3 || view.Client != "+44********23" {
		t.Fatalf("own clinic: %d %+v", status, view)
	}
	for _, f := range view.FollowUps {
		if f.Status != aftercare.FollowUpScheduled {
			t.Errorf("step %d is %s, want scheduled", f.Step, f.Status)
		}
	}
	if status, _ := get(natsjstest.SolToken); status != http.StatusNotFound {
		t.Fatalf("another clinic reading s1 got %d, want 404", status)
	}
}

func TestNATSIntake(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sub, err := b.env.Conn.NC.Subscribe(natsjs.IntakeSubject, func(m *nats.Msg) {
		reply := b.intake.Reply(context.Background(), m.Header.Get("Authorization"), m.Data)
		data, _ := json.Marshal(reply)
		_ = m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	request := func(token, body string) intake.NATSReply {
		msg := nats.NewMsg(natsjs.IntakeSubject)
		msg.Header.Set("Authorization", "Bearer "+token)
		msg.Data = []byte(body)
		res, err := b.env.Conn.NC.RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r intake.NATSReply
		if err := json.Unmarshal(res.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := request(natsjstest.HarbourToken, goodEvent); r.Status != 202 || r.Accepted == nil || r.EventID != "e1" {
		t.Fatalf("good event over NATS: %+v", r)
	}
	if r := request(natsjstest.HarbourToken, strings.Replace(goodEvent, `+447700900123`, `12`, 1)); r.Status != 422 || r.ErrorResponse == nil || r.Problems[0].Field != "client.phone" {
		t.Fatalf("bad event over NATS: %+v", r)
	}
	if r := request("nope", goodEvent); r.Status != 401 {
		t.Fatalf("bad token over NATS: %+v", r)
	}
	if n := b.storedEvents(t); n != 1 {
		t.Fatalf("stored %d events, want 1", n)
	}
}
