package triage_test

import (
	"slices"
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

// FuzzClassify: any text, with or without a previous score, gets one of
// the known classes, an escalation flag that agrees with it, a reason, a
// score in 0-10 if any, and the same answer every time. Seeds are in
// testdata/fuzz/FuzzClassify; the labelled replies in testdata/*.tsv are
// the accuracy tests.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"worse today and my left leg is numb", "3/10 much better thanks 🙂", "is it ok to take ibuprofen?",
		"not worse, just stiff", "Me duele mucho más, 9 de 10", "STOP", "", "😭😭😭", "10/10 pain!!! chest pain and can't breathe"} {
		f.Add(s, -1)
		f.Add(s, 4)
	}
	f.Fuzz(func(t *testing.T, text string, previous int) {
		var prev *int
		if previous >= 0 && previous <= 10 {
			prev = &previous
		}
		d := triage.Classify(text, prev)
		if !slices.Contains(triage.Classes(), d.Class) {
			t.Fatalf("unknown class %q", d.Class)
		}
		if d.Escalate != d.Class.Escalates() {
			t.Fatalf("escalate %v for class %s", d.Escalate, d.Class)
		}
		if d.Score != nil && (*d.Score < 0 || *d.Score > 10) {
			t.Fatalf("score %d out of 0-10", *d.Score)
		}
		if d.Class != triage.Other && d.Reason == "" {
			t.Fatalf("class %s without a reason", d.Class)
		}
		again := triage.Classify(text, prev)
		if again.Class != d.Class || again.Reason != d.Reason {
			t.Fatalf("two answers for one text: %+v then %+v", d, again)
		}
	})
}
