package main

import "testing"

// The scan finds a client's number with or without its "+" (a record's
// key drops it), and passes masked numbers, message SIDs and durations.
func TestLeaksInFindsNumbersWithAndWithoutPlus(t *testing.T) {
	for _, dirty := range []string{
		`{"msg":"sent","to":"+447812345678"}`,
		`{"msg":"job error","err":"decode aftercare_clients harbour.447812345678: corrupt record"}`,
		`msg="job error" key=447812345678`,
	} {
		if leaks := leaksIn("worker", dirty, nil); len(leaks) != 1 {
			t.Errorf("%s: want one leak, got %v", dirty, leaks)
		}
	}
	for _, clean := range []string{
		`{"msg":"sent","to":"+44*********78"}`,
		`{"msg":"job error","err":"decode aftercare_clients harbour.447*******78: corrupt record"}`,
		`{"msg":"sent","sid":"SM00000000000000000447812345678000","after":447812345678}`,
	} {
		if leaks := leaksIn("worker", clean, nil); len(leaks) != 0 {
			t.Errorf("%s: reported %v", clean, leaks)
		}
	}
}
