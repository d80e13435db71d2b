package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: worker triage [-previous N] TEXT...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
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
	out := struct {
		Text    string         `json:"text"`
		Keyword triage.Keyword `json:"keyword,omitempty"`
		triage.Decision
	}{Text: text, Keyword: triage.KeywordOf(text, ""), Decision: triage.Classify(text, prev)}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
