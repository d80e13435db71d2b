package triage_test

import (
	"os"
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

// TestLabelledFiles runs triage, as the worker acts on it, over the
// labelled files in the held-out format and fails on any red flag not paged
// as urgent, any worsening reply not paged, and any stop request that
// reports a symptom and is opted out with nobody seeing it. train2.tsv
// (800 replies) and heldout2.tsv were both written blind, and their first
// runs are in the README; heldout4.tsv is left out of this test on purpose:
// it is the next round's held-out file, measured with `worker triage -eval`
// and never tuned on.
func TestLabelledFiles(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"train2.tsv", "heldout2.tsv", "heldout3.tsv"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cases, err := triage.ReadCases(f)
			if err != nil {
				t.Fatal(err)
			}
			r := triage.Evaluate(cases, triage.Decide)
			var out strings.Builder
			r.Print(&out)
			t.Log("\n" + out.String())
			if r.RedFlagsHit != r.RedFlags || r.WorseHit != r.Worse || r.StopPlusSymptomSilent != 0 {
				t.Errorf("red flags urgent %d/%d, worsening paged %d/%d, stop+symptom silently opted out %d: every one must be caught",
					r.RedFlagsHit, r.RedFlags, r.WorseHit, r.Worse, r.StopPlusSymptomSilent)
			}
		})
	}
}

// The labelled replies the rules may be tuned on number past 1,000.
func TestTrainingCorpusSize(t *testing.T) {
	n := 0
	for _, name := range []string{"replies.tsv", "heldout.tsv", "train2.tsv", "heldout2.tsv", "heldout3.tsv"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
				n++
			}
		}
	}
	if n < 1000 {
		t.Fatalf("%d labelled replies, want at least 1,000", n)
	}
	t.Logf("%d labelled replies", n)
}
