package triage_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aftercare/aftercare/internal/triage"
)

func score(n int) *int { return &n }

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text     string
		previous *int
		want     triage.Class
		score    *int
	}{
		// Negation and contrast, as the issue words them.
		{"not worse", nil, triage.Same, nil},
		{"no worse than yesterday", nil, triage.Same, nil},
		{"was worse yesterday but better today", nil, triage.Improving, nil},
		{"better yesterday but worse today", nil, triage.Worsening, nil},
		{"it was worse last night", nil, triage.Worsening, nil}, // nothing says it passed
		{"no numbness, tingling or fever", nil, triage.Other, nil},
		{"no numbness, tingling or fever, just sore", nil, triage.Same, nil},
		{"no fever but my arm is tingling", nil, triage.RedFlag, nil},
		{"the tingling has gone", nil, triage.Improving, nil},
		{"can't feel my toes", nil, triage.RedFlag, nil},
		{"can't feel any better", nil, triage.Improving, nil}, // an idiom, not numbness
		// Scores against the previous one.
		{"8/10", nil, triage.Worsening, score(8)},
		{"6", score(4), triage.Worsening, score(6)},
		{"5", score(4), triage.Same, score(5)},
		{"3", score(5), triage.Improving, score(3)},
		{"9", nil, triage.RedFlag, score(9)},
		{"pain is about a 6-7", nil, triage.Worsening, score(7)},
		{"took 2 ibuprofen", nil, triage.NeedsReview, nil}, // medicine, and nothing says why
		{"sore for 3 days now", nil, triage.Same, nil},
		{"siete de diez", nil, triage.Worsening, score(7)},
		// Typos, shorthand, emoji, Spanish.
		{"wrose", nil, triage.Worsening, nil},
		{"numbess in my hand", nil, triage.RedFlag, nil},
		{"😭", nil, triage.Worsening, nil},
		{"👍", nil, triage.Improving, nil},
		{"hormigueo", nil, triage.RedFlag, nil},
		{"ya no me duele", nil, triage.Improving, nil},
		{"me duele mas", nil, triage.Worsening, nil},
		{"Can I take ibuprofen?", nil, triage.Question, nil},
		{"", nil, triage.Other, nil},
		// Fail-safe: the body, a symptom, medicine or care, read with no
		// confidence, goes to a person; chit-chat stays other.
		{"my shoulder feels weird since yesterday", nil, triage.NeedsReview, nil},
		{"my knee still feels odd", nil, triage.NeedsReview, nil},
		{"the sholder is weird", nil, triage.NeedsReview, nil}, // a slip
		{"feeling funny in my lower back", nil, triage.NeedsReview, nil},
		{"went to see my GP this morning", nil, triage.NeedsReview, nil},
		{"tomé un nolotil anoche", nil, triage.NeedsReview, nil},
		{"el hombro lo noto raro", nil, triage.NeedsReview, nil},
		{"no swelling in my knee", nil, triage.Other, nil}, // denied
		{"no numbness, tingling or fever", nil, triage.Other, nil},
		{"back home now, thanks", nil, triage.Other, nil}, // "back" is not the body here
		{"on the other hand it was lovely", nil, triage.Other, nil},
		{"thumbs up", nil, triage.Other, nil},
		{"still", nil, triage.Same, nil},
		{"Sent from my iPhone", nil, triage.Other, nil},
		// Confident readings are unchanged by a body word.
		{"my shoulder is much better", nil, triage.Improving, nil},
		{"my shoulder is worse", nil, triage.Worsening, nil},
		{"my shoulder has gone numb", nil, triage.RedFlag, nil},
		{"shoulder still sore", nil, triage.Same, nil},
		{"should I ice my shoulder?", nil, triage.Question, nil},
		{strings.Repeat("worse ", 1000), nil, triage.Worsening, nil},
	}
	for _, tt := range tests {
		got := triage.Classify(tt.text, tt.previous)
		if got.Class != tt.want {
			t.Errorf("Classify(%.40q, %v) = %s (%s), want %s", tt.text, tt.previous, got.Class, got.Reason, tt.want)
		}
		if got.Escalate != tt.want.Escalates() {
			t.Errorf("Classify(%.40q).Escalate = %v", tt.text, got.Escalate)
		}
		if tt.score != nil && (got.Score == nil || *got.Score != *tt.score) {
			t.Errorf("Classify(%q) score = %v, want %d", tt.text, got.Score, *tt.score)
		}
		if got.Reason == "" {
			t.Errorf("Classify(%q) gave no reason", tt.text)
		}
	}
}

func TestKeywordOf(t *testing.T) {
	t.Parallel()
	for _, w := range []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"} {
		for _, body := range []string{w, strings.ToLower(w), "  " + w + " ", w + ".", "\t" + w[:1] + strings.ToLower(w[1:]) + "\n"} {
			if got := triage.KeywordOf(body, ""); got != triage.OptOut {
				t.Errorf("KeywordOf(%q) = %q, want opt-out", body, got)
			}
		}
	}
	for body, want := range map[string]triage.Keyword{
		"start": triage.OptIn, " UNSTOP": triage.OptIn, "Yes": triage.OptIn, "help": triage.Help, "INFO ": triage.Help,
		"stop the pain please": triage.NoKeyword, "yes it is worse": triage.NoKeyword, "helpful, thanks": triage.NoKeyword,
	} {
		if got := triage.KeywordOf(body, ""); got != want {
			t.Errorf("KeywordOf(%q) = %q, want %q", body, got, want)
		}
	}
	// Advanced Opt-Out names the keyword itself, custom ones included.
	if got := triage.KeywordOf("ALTO", "STOP"); got != triage.OptOut {
		t.Errorf("OptOutType STOP: got %q", got)
	}
	if got := triage.KeywordOf("AYUDA", "help"); got != triage.Help {
		t.Errorf("OptOutType HELP: got %q", got)
	}
}

func ExampleClassify() {
	previous := 4
	d := triage.Classify("pain is 7/10 today and my foot feels numb", &previous)
	out, _ := json.Marshal(d)
	fmt.Println(string(out))
	// Output:
	// {"class":"red_flag","reason":"red flag: numbness (\"numb\")","escalate":true,"pain_score":7,"previous_score":4}
}

func BenchmarkClassify(b *testing.B) {
	replies := readCorpus(b, "testdata/replies.tsv")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l := replies[i%len(replies)]
		triage.Classify(l.text, l.previous)
	}
}

// BenchmarkClassifyHostile is a 2,000-character reply built to make the
// reader's work grow with its length: many clauses, each an expectation
// with an outcome and a complaint.
func BenchmarkClassifyHostile(b *testing.B) {
	text := strings.Repeat("thought , ok worse , ", 100)[:triage.MaxLength]
	b.ReportAllocs()
	for b.Loop() {
		triage.Classify(text, nil)
	}
}
