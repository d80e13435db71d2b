package phone

import (
	"fmt"
	"strings"
	"testing"
)

// Textable's remembered answers are the answers: the same number, the
// same refusal, per clinic's rules, and the memory stays bounded.
func TestTextableRemembersPerRules(t *testing.T) {
	gb, us := Rules{Countries: []string{"GB"}}, Rules{Countries: []string{"US"}}
	for range 2 { // the second time from memory
		if got, err := gb.Textable("07700 900123"); err != nil || got != "+447700900123" {
			t.Errorf("GB national mobile: %q, %v", got, err)
		}
		if _, err := us.Textable("07700 900123"); err == nil {
			t.Error("a GB national number passed a US clinic's rules")
		}
		if _, err := gb.Textable("+442079460000"); err == nil || !strings.Contains(err.Error(), "landline") {
			t.Errorf("landline: %v", err)
		}
	}
	for i := range 3 * recentSize {
		_, _ = gb.Textable(fmt.Sprintf("+4477009%05d", i%100000))
	}
	recent.mu.Lock()
	n := len(recent.cur) + len(recent.old)
	recent.mu.Unlock()
	if n > 2*recentSize {
		t.Errorf("%d answers remembered, want at most %d", n, 2*recentSize)
	}
}

func BenchmarkTextable(b *testing.B) {
	r := Rules{Countries: []string{"GB"}}
	b.Run("first read", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.textable("+447700900123"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Textable("+447700900123"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
