package aftercare

import (
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
