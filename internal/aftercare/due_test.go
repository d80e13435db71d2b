package aftercare

import (
	"reflect"
	"testing"
	"time"
)

func TestDueOfCarriesTheRevisionOfAnUntouchedRecordOnly(t *testing.T) {
	due := time.Date(2037, 11, 24, 10, 0, 0, 0, time.UTC)
	planned := FollowUp{ClinicID: "harbour", SessionID: "s1", Step: 2, PlanVersion: 7, DueAt: due,
		Status: FollowUpScheduled, UpdatedAt: due.Add(-48 * time.Hour)}
	job := DueOf(planned, 42)
	if job.PlannedRevision != 42 {
		t.Fatalf("job of a record as planned: %+v, want planned revision 42", job)
	}
	back := job.Planned()
	back.UpdatedAt = planned.UpdatedAt
	if back != planned {
		t.Errorf("the job describes %+v, the record is %+v", back, planned)
	}

	touched := map[string]func(*FollowUp){
		"claimed":              func(f *FollowUp) { f.Status, f.Attempts, f.ClaimedAt = FollowUpSending, 1, due },
		"released after a try": func(f *FollowUp) { f.Attempts, f.Reason = 1, "last attempt: 503" },
		"maybe sent":           func(f *FollowUp) { f.MaybeSentSince = due },
		"a reason kept":        func(f *FollowUp) { f.Reason = "last attempt: timeout" },
		"sent":                 func(f *FollowUp) { f.Status, f.MessageSID, f.SentAt = FollowUpSent, "SM1", due },
		"skipped":              func(f *FollowUp) { f.Status, f.Reason = FollowUpSkipped, "capped" },
		"delivery reported":    func(f *FollowUp) { f.Delivery = "delivered" },
	}
	for name, touch := range touched {
		f := planned
		touch(&f)
		if f.Untouched() {
			t.Errorf("%s: Untouched", name)
		}
		if job := DueOf(f, 43); job.PlannedRevision != 0 {
			t.Errorf("%s: the job carries planned revision %d; a worker would take the record as planned", name, job.PlannedRevision)
		}
	}
}

func TestDueWithSessionCarriesOnlyAnActivePlansSession(t *testing.T) {
	due := time.Date(2037, 11, 24, 10, 0, 0, 0, time.UTC)
	planned := FollowUp{ClinicID: "harbour", SessionID: "s1", Step: 2, PlanVersion: 7, DueAt: due, Status: FollowUpScheduled}
	active := Session{ClinicID: "harbour", SessionID: "s1", Status: SessionActive, PlanVersion: 7, Service: "sports",
		Client: Client{Phone: "+447700900123", Name: "Ann", TimeZone: "Europe/London", Locale: "en"}}
	job := DueWithSession(planned, 42, &active)
	got, ok := job.PlannedSession()
	if !ok {
		t.Fatalf("job %+v of an active session carries no session", job)
	}
	active.UpdatedAt, active.End, active.RecentEvents = time.Time{}, time.Time{}, nil
	if !reflect.DeepEqual(got, active) {
		t.Errorf("the job's session is %+v, want %+v", got, active)
	}

	notCarried := map[string]func(*Session, *FollowUp){
		"no session":           nil,
		"cancelled":            func(s *Session, _ *FollowUp) { s.Status = SessionCancelled },
		"escalated":            func(s *Session, _ *FollowUp) { s.EscalationID = "esc_SM1" },
		"a later plan":         func(s *Session, _ *FollowUp) { s.PlanVersion = 8 },
		"another session":      func(s *Session, _ *FollowUp) { s.SessionID = "s2" },
		"another clinic":       func(s *Session, _ *FollowUp) { s.ClinicID = "elm" },
		"a record tried once":  func(_ *Session, f *FollowUp) { f.Attempts = 1 },
		"a record already set": func(_ *Session, f *FollowUp) { f.Status = FollowUpSkipped },
	}
	for name, change := range notCarried {
		s, f := active, planned
		sp := &s
		if change == nil {
			sp = nil
		} else {
			change(&s, &f)
		}
		if got, ok := DueWithSession(f, 42, sp).PlannedSession(); ok {
			t.Errorf("%s: the job carries %+v; the worker would not read the session", name, got)
		}
	}
	old := job
	old.PlannedFormat = FollowUpFormat + 1
	if _, ok := old.PlannedSession(); ok {
		t.Error("a job of another record format carries its session: the worker would not read either record")
	}
}
