package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aftercare/aftercare/internal/triage"
)

// runTriage is "worker triage [-previous N] TEXT...": it classifies a reply
// as the worker would and prints the decision as JSON, so a clinic can try
// its clients' wording without sending a text.
func runTriage(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("triage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	previous := fs.Int("previous", -1, "the client's previous pain score, 0-10 (-1: none)")
	rules := fs.Bool("rules", false, "print the table of triage rules (the README's table is this output)")
	eval := fs.String("eval", "", "instead of one reply, run a labelled held-out file (label<TAB>previous<TAB>category<TAB>text) and print recall and false alarms")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: worker triage [-previous N] TEXT...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rules {
		triage.WriteRulesTable(stdout)
		return nil
	}
	if *eval != "" {
		f, err := os.Open(*eval)
		if err != nil {
			return fmt.Errorf("triage -eval: %w", err)
		}
		defer f.Close()
		cases, err := triage.ReadCases(f)
		if err != nil {
			return fmt.Errorf("triage -eval %s: %w", *eval, err)
		}
		triage.Evaluate(cases, triage.Decide).Print(stdout)
		return nil
	}
	text := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(text) == "" {
		fs.Usage()
		return errors.New("triage: give the reply text to classify")
	}
	if *previous > 10 {
		return fmt.Errorf("triage: -previous %d is not a 0-10 pain score", *previous)
	}
	var prev *int
	if *previous >= 0 {
		prev = previous
	}
	// The concepts found and the rule that decided (reason), so a
	// clinician can see why a reply was or was not escalated.
	out := struct {
		Text    string         `json:"text"`
		Keyword triage.Keyword `json:"keyword,omitempty"`
		triage.Explanation
	}{Text: text, Keyword: triage.KeywordOf(text, ""), Explanation: triage.Explain(text, prev)}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
