package triage_test

import (
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

// The evaluation counts what a clinician cares about: a red flag paged as
// plain worsening is not a hit, a stop request that also reports a symptom
// and is only opted out is the worst miss, and a benign reply paged or
// opted out is a false alarm.
func TestEvaluateCounts(t *testing.T) {
	t.Parallel()
	file := "# comment\n" +
		"red_flag\t-\tnerve\tfoot has gone numb\n" +
		"red_flag\t-\tclot\tcalf hot and swollen\n" +
		"worsening\t3\ttwo_scores\tnow 7\n" +
		"review\t-\tambiguous\tback feels odd\n" +
		"opt_out\t-\topt_out_plain\tno more texts please\n" +
		"worsening\t-\tstop_plus_symptom\tstop texting me, it hurts more\n" +
		"fine\t-\tbetter\tmuch better thanks\n"
	cases, err := triage.ReadCases(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]triage.Outcome{
		"foot has gone numb":             {Escalated: true, RedFlag: true, Seen: true},
		"calf hot and swollen":           {Escalated: true, Seen: true}, // paged, not as urgent
		"now 7":                          {},                            // missed
		"back feels odd":                 {},                            // nobody sees it
		"no more texts please":           {OptedOut: true},
		"stop texting me, it hurts more": {OptedOut: true}, // silently opted out
		"much better thanks":             {Escalated: true, Seen: true},
	}
	r := triage.Evaluate(cases, func(c triage.Case) triage.Outcome { return outcomes[c.Text] })
	got := []int{r.RedFlags, r.RedFlagsHit, r.RedFlagsPaged, r.Worse, r.WorseHit, r.Review, r.ReviewSeen, r.OptOuts, r.OptOutsHit,
		r.StopPlusSymptom, r.StopPlusSymptomSilent, r.Benign, r.FalseAlarms}
	want := []int{2, 1, 2, 2, 0, 1, 0, 1, 1, 1, 1, 1, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("counts %v, want %v", got, want)
		}
	}
	if cases[2].Previous == nil || *cases[2].Previous != 3 {
		t.Errorf("previous score not read: %+v", cases[2])
	}
	for _, bad := range []string{"fine\t-\tno category column\n", "fine\t11\tbetter\ttext\n"} {
		if _, err := triage.ReadCases(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
