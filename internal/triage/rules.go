package triage

import (
	"fmt"
	"io"
	"strings"
)

// clauseRule is a rule over the concepts of one clause: it holds when the
// clause describes what it reads, in any words the concepts know.
type clauseRule struct {
	name   string
	class  Class
	reads  string // what it reads, as the decision's reason says it
	source string // the guidance it follows, or why it is a rule
	holds  func(words []string) bool
}

// replyRules are the rules over the whole reply, in the order they are
// weighed (see findings.decide and Classify); listed here so the README's
// table names every rule.
var replyRules = []struct {
	name, class, reads, source string
}{
	{"self_harm", "red_flag (urgent, crisis line)", "a wish to die or to self-harm, direct or indirect, not denied",
		"NICE NG225; Samaritans and 988 Lifeline safe-messaging guidance"},
	{"severe_score", "red_flag", fmt.Sprintf("a pain score of %d or more out of 10", SevereScore), "severe pain after massage is not expected soreness"},
	{"score_trend", "worsening / improving", fmt.Sprintf("two scores placed in time in one reply (\"was 3 now 7\", \"ayer 4, hoy 8\", \"5 -> 9\"); a rise of %d or more", WorseningRise),
		"the client's own comparison"},
	{"score", "worsening", fmt.Sprintf("a score of %d or more, or %d above the client's last", WorseningScore, WorseningRise), "the texts ask for a 0-10 score"},
	{"lasting_a_week", "worsening", "pain, or pain not easing, for 7 days or more", "the tips' own advice: soreness past a week needs a professional"},
	{"expectation", "none (discounts)", "a complaint inside a fear or guess that the reply says did not come true", "\"thought it'd be worse but it's fine\" is fine"},
	{"as_expected", "needs_review", "a complaint the client calls expected or normal", "a person reads it; nobody is paged"},
	{"fail_safe", "needs_review", "the body, pain, a symptom, medicine or care mentioned, and no rule reads it with confidence", "fine only when confident it is benign"},
}

// WriteRulesTable writes the README's triage table: every rule, from the
// tables the classifier runs.
func WriteRulesTable(w io.Writer) {
	fmt.Fprintln(w, "| rule | decides | reads | source |")
	fmt.Fprintln(w, "|---|---|---|---|")
	row := func(name, class, reads, source string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, class, strings.ReplaceAll(reads, "|", "/"), source)
	}
	for _, r := range replyRules {
		row(r.name, r.class, r.reads, r.source)
	}
	for _, r := range redFlagRules {
		row(r.name, string(r.class), r.reads, r.source)
	}
	for _, r := range conceptRules {
		row(r.name, string(r.class), r.reads, r.source)
	}
	for _, group := range [][]rule{redFlags, worsening, improving, same} {
		for _, r := range group {
			row(strings.ReplaceAll(r.reason, " ", "_"), string(r.class), fmt.Sprintf("%d phrases, such as %q", len(r.phrases), strings.Join(r.phrases[:min(3, len(r.phrases))], "\", \"")),
				"phrase list (negation-aware) kept from earlier rounds")
		}
	}
	row("swelling", "worsening / red_flag", "swelling; with redness or heat, or in the calf, a red flag", "NICE NG158, NICE NG141")
	row("question", string(Question), "a question to the clinic (\"?\", a question word first, or booking words)", "answered, and listed for staff")
}
