package triage_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

// The README's table of rules is the classifier's own: regenerate it with
// `go run ./cmd/worker triage -rules` when a rule changes.
func TestREADMERulesTableIsGenerated(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- triage-rules:begin -->\n")
	table, _, ok2 := strings.Cut(rest, "<!-- triage-rules:end -->")
	if !ok || !ok2 {
		t.Fatal("README has no triage-rules markers")
	}
	var want strings.Builder
	triage.WriteRulesTable(&want)
	if table != want.String() {
		t.Errorf("README's triage table differs from the rules; regenerate it with `go run ./cmd/worker triage -rules`")
	}
	for _, name := range []string{"stroke", "clot_leg", "clot_lung", "anaphylaxis", "cauda_equina", "foot_drop", "infection_fever",
		"fainting", "emergency_care", "self_harm", "medicine_not_helping", "score_trend", "lasting_a_week"} {
		if !strings.Contains(table, "| "+name+" |") {
			t.Errorf("rule %s missing from the table", name)
		}
	}
}

// Explain names the concepts a clinician would look for and the rule that
// decided, and marks a fear that did not come true.
func TestExplainSaysWhy(t *testing.T) {
	e := triage.Explain("my smile's gone lopsided and my words come out weird", nil)
	if e.Class != triage.RedFlag || !strings.Contains(e.Reason, "stroke") {
		t.Fatalf("got %s (%s), want a stroke red flag", e.Class, e.Reason)
	}
	found := map[string]bool{}
	for _, c := range e.Concepts {
		found[c.Concept] = true
	}
	for _, want := range []string{"face", "droop", "speech", "speech_wrong"} {
		if !found[want] {
			t.Errorf("concept %s not reported: %+v", want, e.Concepts)
		}
	}
	e = triage.Explain("I was scared it would get worse overnight, but nope, all good", nil)
	if e.Escalate || len(e.Clauses) == 0 || !strings.Contains(e.Clauses[0], "[expectation, did not come true]") {
		t.Errorf("fear that did not come true: %s (%s), clauses %q", e.Class, e.Reason, e.Clauses)
	}
}
