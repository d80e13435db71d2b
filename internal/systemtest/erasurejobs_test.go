package systemtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/httpapi"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// erase asks the scheduler to erase a client (202 and the job's URL), then
// polls the job until it is done and returns its answer.
func (s *system) erase(t *testing.T, scheduler *program, phonePath string) (httpapi.ErasureStatus, []byte) {
	t.Helper()
	status, body := s.call(scheduler, http.MethodDelete, "/v1/clients/"+phonePath, token, "")
	var accepted httpapi.ErasureAccepted
	if status != http.StatusAccepted || json.Unmarshal(body, &accepted) != nil || accepted.StatusURL != "/v1/erasures/"+accepted.JobID {
		t.Fatalf("erase: %d %s, want 202 with the job's URL", status, body)
	}
	return s.erasureDone(t, scheduler, accepted.StatusURL, 30*time.Second)
}

func (s *system) erasureDone(t *testing.T, scheduler *program, url string, within time.Duration) (httpapi.ErasureStatus, []byte) {
	t.Helper()
	var job httpapi.ErasureStatus
	var body []byte
	waitFor(t, within, "the erasure done", func() bool {
		var status int
		status, body = s.call(scheduler, http.MethodGet, url, token, "")
		job = httpapi.ErasureStatus{}
		return status == http.StatusOK && json.Unmarshal(body, &job) == nil && job.Status == erasure.JobDone
	})
	return job, body
}

// An erasure is a job: while it is queued or in hand, the client's new
// session events are refused (409 over HTTP and over NATS, naming the
// job) and one taken in before is not planned; a job cut short (taken by
// a scheduler that stopped without finishing it, after erasing part) is
// run again from the start by the next scheduler and completes; then the
// tombstone is down and the clinic may book the client afresh.
func TestErasureJobSurvivesACrashAndHoldsOffNewSessions(t *testing.T) {
	t.Parallel()
	s := setup(t, "1h,2h,3h")
	scheduler := s.start("scheduler")
	store, js := s.store()
	const client, neighbour = "+447700900621", "+447700900622"
	for _, ev := range []string{event("ej-1", "ej-client", "completed", client, time.Now()), event("ej-2", "ej-neighbour", "completed", neighbour, time.Now())} {
		if status, _ := s.post(scheduler, ev); status != http.StatusAccepted {
			t.Fatalf("session: %d", status)
		}
	}
	waitFor(t, 10*time.Second, "the sessions planned", func() bool {
		_, _, err1 := store.Client(context.Background(), "harbour", client)
		_, _, err2 := store.Client(context.Background(), "harbour", neighbour)
		return err1 == nil && err2 == nil
	})
	s.stop(scheduler, syscall.SIGTERM)

	// The erasure is requested as DELETE does, and a scheduler takes it
	// in hand, erases the client record and stops without finishing.
	jobs := &erasure.Jobs{Store: store, Now: time.Now}
	job, err := jobs.Request(context.Background(), "harbour", client, aftercare.Author{Kind: aftercare.AuthorAPI, Name: "clinic token"})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := natsjs.ClientEraseConsumer(context.Background(), js, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var inHand jetstream.Msg
	for m := range batch.Messages() {
		inHand = m
	}
	if inHand == nil || string(inHand.Data()) != job.ID {
		t.Fatalf("the job's message: %v", inHand)
	}
	if _, err := natsjs.UpdateRecord(context.Background(), store, store.ErasureJobsBucket(), natsjs.ErasureJobKey("harbour", job.ID), false,
		func(j *erasure.Job) (bool, error) { j.Status, j.Attempts = erasure.JobRunning, 1; return true, nil }); err != nil {
		t.Fatal(err)
	}
	if err := store.EraseKeys(context.Background(), natsjs.BucketClients, natsjs.ClientKey("harbour", client)); err != nil {
		t.Fatal(err)
	}

	scheduler = s.start("scheduler")
	// The tombstone stands: the client's new sessions are refused, the
	// neighbour's are not.
	status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", token, event("ej-3", "ej-client-2", "completed", client, time.Now()))
	if status != http.StatusConflict || !strings.Contains(string(body), job.ID) || !strings.Contains(string(body), "being erased") {
		t.Errorf("a new session of the client being erased: %d %s, want 409 naming the job", status, body)
	}
	if status, _ := s.post(scheduler, event("ej-4", "ej-neighbour-2", "completed", neighbour, time.Now())); status != http.StatusAccepted {
		t.Errorf("the neighbour's new session: %d", status)
	}
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := nats.NewMsg(natsjs.IntakeSubject)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Data = []byte(event("ej-5", "ej-client-3", "completed", client, time.Now()))
	res, err := nc.RequestMsg(req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(res.Data, &reply); err != nil || reply.Status != http.StatusConflict || !strings.Contains(reply.Error, job.ID) {
		t.Errorf("NATS intake answered %s, want status 409 naming the job", res.Data)
	}
	var pending httpapi.ErasureStatus
	if status := s.getJSON(scheduler, "/v1/erasures/"+job.ID, token, &pending); status != http.StatusOK || pending.Status != erasure.JobRunning || pending.Result != nil {
		t.Errorf("the job in hand: %d %+v", status, pending)
	}
	if status := s.getJSON(scheduler, "/v1/erasures/"+job.ID, solToken, nil); status != http.StatusNotFound {
		t.Errorf("another clinic reads the job: %d, want 404", status)
	}

	// The crashed scheduler's message comes back (after AckWait; here at
	// once), and the running scheduler does the job from the start.
	if err := inHand.Nak(); err != nil {
		t.Fatal(err)
	}
	done, body := s.erasureDone(t, scheduler, "/v1/erasures/"+job.ID, 30*time.Second)
	if done.Attempts != 2 || done.Result == nil || done.Erased.Sessions != 1 || done.Erased.FollowUps != 3 || !done.Erased.Timers || len(done.Kept) == 0 {
		t.Errorf("the job done: %s", body)
	}
	if strings.Contains(string(body), "447700900621") {
		t.Errorf("the answer holds the number: %s", body)
	}
	if id, err := store.Erasing(context.Background(), "harbour", client); err != nil || id != "" {
		t.Errorf("the tombstone after the job: %q %v", id, err)
	}
	for _, hit := range natsjstest.Find(t, js, nil, "447700900621", natsjs.Token(client), "harbour.ej-client") {
		t.Errorf("after erasure: %s", hit)
	}
	if _, _, err := store.Client(context.Background(), "harbour", neighbour); err != nil {
		t.Errorf("the neighbour's record: %v", err)
	}
	// The clinic books the client again: a new client, followed up.
	if status, body := s.call(scheduler, http.MethodPost, "/v1/sessions", token, event("ej-6", "ej-client-4", "completed", client, time.Now())); status != http.StatusAccepted {
		t.Errorf("a session after the erasure: %d %s", status, body)
	}
	waitFor(t, 10*time.Second, "the new session planned", func() bool {
		c, _, err := store.Client(context.Background(), "harbour", client)
		return err == nil && len(c.Sessions) == 1 && c.Sessions[0].SessionID == "ej-client-4"
	})
}
