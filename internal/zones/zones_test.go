package zones

import (
	"testing"
	"time"
)

func TestLoadRemembersZones(t *testing.T) {
	first, err := Load("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load("Europe/London")
	if err != nil || again != first {
		t.Fatalf("second load: %p, %v; want the same zone %p", again, err, first)
	}
	if first.String() != "Europe/London" {
		t.Errorf("loaded %q", first)
	}
	summer := time.Date(2030, 7, 1, 12, 0, 0, 0, first)
	if _, offset := summer.Zone(); offset != 3600 {
		t.Errorf("London in July is %d s from UTC, want 3600", offset)
	}
}

func TestLoadRefusesUnknownZones(t *testing.T) {
	for _, name := range []string{"Mars/Olympus_Mons", "../../etc/passwd"} {
		if _, err := Load(name); err == nil {
			t.Errorf("%q loaded", name)
		}
		if _, ok := loaded.Load(name); ok {
			t.Errorf("%q kept after failing to load", name)
		}
	}
}
