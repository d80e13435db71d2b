package triage

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Expected handling of a reply in a held-out file (label column): what a
// clinician would want done with it.
const (
	WantRedFlag = "red_flag" // page the clinic, tell the client to seek care
	WantWorse   = "worsening"
	WantReview  = "review" // a person should read it
	WantAsk     = "question"
	WantFine    = "fine" // clearly benign
	WantOptOut  = "opt_out"
	WantOptIn   = "opt_in"
)

// Case is one labelled reply of a held-out file:
// label<TAB>previous score or "-"<TAB>category<TAB>text.
type Case struct {
	Line     int
	Label    string
	Previous *int
	Category string
	Text     string
}

// ReadCases reads a held-out file; lines starting with "#" are comments.
func ReadCases(r io.Reader) ([]Case, error) {
	var out []Case
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "\t", 4)
		if len(parts) != 4 {
			return nil, fmt.Errorf("line %d: want label<TAB>previous<TAB>category<TAB>text", n)
		}
		c := Case{Line: n, Label: parts[0], Category: parts[2], Text: parts[3]}
		if parts[1] != "-" {
			v, err := strconv.Atoi(parts[1])
			if err != nil || v < 0 || v > 10 {
				return nil, fmt.Errorf("line %d: previous score %q is not 0-10 or -", n, parts[1])
			}
			c.Previous = &v
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// Outcome is what triage does with a reply, as the worker acts on it.
type Outcome struct {
	Escalated bool // the clinic is paged
	RedFlag   bool // and the client told to seek care
	OptedOut  bool
	OptedIn   bool
	// Seen: a person at the clinic sees it (paged, or in the review list).
	Seen bool
}

// Decide runs triage on one case as the worker does: keywords first, then
// classification.
func Decide(c Case) Outcome {
	kw := KeywordOf(c.Text, "")
	switch kw {
	case OptOut:
		return Outcome{OptedOut: true}
	case OptIn:
		return Outcome{OptedIn: true}
	case Help:
		return Outcome{}
	}
	d := Classify(c.Text, c.Previous)
	o := Outcome{Escalated: d.Class.Escalates(), RedFlag: d.Class == RedFlag}
	o.Seen = o.Escalated || d.Class == NeedsReview // listed for the clinic to review
	if StopIntent(c.Text) {
		// Opted out; triaged as well only when it says something of concern.
		if !OfConcern(d.Class) {
			return Outcome{OptedOut: true}
		}
		o.OptedOut = true
	}
	return o
}

// Report is a held-out file's figures.
type Report struct {
	Total                 int
	RedFlags, RedFlagsHit int // paged with "seek care"
	RedFlagsPaged         int // paged at all
	Worse, WorseHit       int // paged
	// WorryingSeen counts red flags and worsening a person sees at all:
	// paged, or listed for review.
	WorryingSeen int
	// BenignListed counts benign replies listed for review: no page, but
	// staff time.
	BenignListed           int
	Review, ReviewSeen     int // a person sees it
	OptOuts, OptOutsHit    int
	Benign, FalseAlarms    int // benign replies paged or opted out
	StopPlusSymptom        int
	StopPlusSymptomSilent  int // opted out and no person sees it: the worst kind of miss
	Missed                 []string
	MissedByCategory       map[string]int
	CasesByCategory        map[string]int
	BenignOptedOutOrPaged  []string
	ReviewNotSeenExamples  []string
	OptOutsMissedExamples  []string
	RedFlagNotUrgentSample []string
}

// Evaluate runs every case and counts what a clinician would care about.
func Evaluate(cases []Case, decide func(Case) Outcome) Report {
	r := Report{Total: len(cases), MissedByCategory: map[string]int{}, CasesByCategory: map[string]int{}}
	for _, c := range cases {
		o := decide(c)
		r.CasesByCategory[c.Category]++
		miss := func(list *[]string) {
			r.MissedByCategory[c.Category]++
			*list = append(*list, fmt.Sprintf("%d [%s/%s] %s", c.Line, c.Label, c.Category, c.Text))
		}
		if c.Category == "stop_plus_symptom" {
			r.StopPlusSymptom++
			if o.OptedOut && !o.Seen { // neither paged nor listed for review
				r.StopPlusSymptomSilent++
			}
		}
		if (c.Label == WantRedFlag || c.Label == WantWorse) && (o.Seen || o.Escalated) {
			r.WorryingSeen++
		}
		switch c.Label {
		case WantRedFlag:
			r.RedFlags++
			if o.Escalated {
				r.RedFlagsPaged++
			}
			if o.RedFlag {
				r.RedFlagsHit++
			} else if o.Escalated {
				r.RedFlagNotUrgentSample = append(r.RedFlagNotUrgentSample, fmt.Sprintf("%d [%s] %s", c.Line, c.Category, c.Text))
			} else {
				miss(&r.Missed)
			}
		case WantWorse:
			r.Worse++
			if o.Escalated {
				r.WorseHit++
			} else {
				miss(&r.Missed)
			}
		case WantReview:
			r.Review++
			if o.Seen {
				r.ReviewSeen++
			} else {
				miss(&r.ReviewNotSeenExamples)
			}
		case WantOptOut:
			r.OptOuts++
			if o.OptedOut {
				r.OptOutsHit++
			} else {
				miss(&r.OptOutsMissedExamples)
			}
		case WantFine, WantAsk, WantOptIn:
			r.Benign++
			if o.Seen && !o.Escalated {
				r.BenignListed++
			}
			if o.Escalated || o.OptedOut {
				r.FalseAlarms++
				miss(&r.BenignOptedOutOrPaged)
			}
		}
	}
	return r
}

// Print writes the figures, then every miss, for a note or a terminal.
func (r Report) Print(w io.Writer) {
	pct := func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%d/%d (%.0f%%)", a, b, 100*float64(a)/float64(b))
	}
	fmt.Fprintf(w, "replies                     %d\n", r.Total)
	fmt.Fprintf(w, "red flags paged as urgent   %s (paged at all: %s)\n", pct(r.RedFlagsHit, r.RedFlags), pct(r.RedFlagsPaged, r.RedFlags))
	fmt.Fprintf(w, "worsening paged             %s\n", pct(r.WorseHit, r.Worse))
	fmt.Fprintf(w, "red flags + worsening seen  %s (paged, or listed for review)\n", pct(r.WorryingSeen, r.RedFlags+r.Worse))
	fmt.Fprintf(w, "needs review seen by staff  %s\n", pct(r.ReviewSeen, r.Review))
	fmt.Fprintf(w, "opt-outs honoured           %s\n", pct(r.OptOutsHit, r.OptOuts))
	fmt.Fprintf(w, "stop + symptom opted out    %s silently (want 0)\n", pct(r.StopPlusSymptomSilent, r.StopPlusSymptom))
	fmt.Fprintf(w, "false alarms on benign      %s (paged or opted out)\n", pct(r.FalseAlarms, r.Benign))
	fmt.Fprintf(w, "benign listed for review    %s\n", pct(r.BenignListed, r.Benign))
	cats := slices.Sorted(func(yield func(string) bool) {
		for c := range r.MissedByCategory {
			if !yield(c) {
				return
			}
		}
	})
	for _, c := range cats {
		fmt.Fprintf(w, "  missed in %-20s %s\n", c, pct(r.MissedByCategory[c], r.CasesByCategory[c]))
	}
	for _, group := range []struct {
		title string
		lines []string
	}{
		{"red flags and worsening not paged", r.Missed},
		{"red flags paged as plain worsening", r.RedFlagNotUrgentSample},
		{"needs review that nobody sees", r.ReviewNotSeenExamples},
		{"opt-outs not honoured", r.OptOutsMissedExamples},
		{"benign replies paged or opted out", r.BenignOptedOutOrPaged},
	} {
		if len(group.lines) > 0 {
			fmt.Fprintf(w, "\n%s:\n", group.title)
			for _, l := range group.lines {
				fmt.Fprintf(w, "  %s\n", l)
			}
		}
	}
}
