package spool_test

import (
	"errors"
	"testing"

	"github.com/aftercare/aftercare/internal/spool"
)

// Messages come out oldest first; one that cannot be delivered stays, with
// every one after it, for the next drain; a reopened spool finds them.
func TestSpoolKeepsWhatWasNotDelivered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b", "c"} {
		if err := sp.Put("SM/"+m, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	n, err := sp.Drain(func(data []byte) error {
		if string(data) == "b" {
			return errors.New("jetstream away")
		}
		got = append(got, string(data))
		return nil
	})
	if n != 1 || err == nil || len(got) != 1 || got[0] != "a" {
		t.Fatalf("first drain: delivered %d %v, err %v; want a, then a failure at b", n, got, err)
	}
	reopened, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if reopened.Len() != 2 {
		t.Fatalf("reopened spool holds %d, want 2", reopened.Len())
	}
	got = nil
	if n, err := reopened.Drain(func(data []byte) error { got = append(got, string(data)); return nil }); n != 2 || err != nil {
		t.Fatalf("second drain: %d, %v", n, err)
	}
	if len(got) != 2 || got[0] != "b" || got[1] != "c" || reopened.Len() != 0 {
		t.Errorf("second drain delivered %v and left %d; want [b c] and 0", got, reopened.Len())
	}
}

func TestSpoolRefusesADirectoryItCannotWrite(t *testing.T) {
	t.Parallel()
	if _, err := spool.Open("/proc/aftercare-spool"); err == nil {
		t.Error("opened a spool where nothing can be written")
	}
}
