package aftercare_test

import (
	"testing"

	"github.com/aftercare/aftercare/internal/aftercare"
)

func TestCrisisLineFor(t *testing.T) {
	t.Parallel()
	for phone, want := range map[string]string{
		"+447700900123": "116 123", "+353851234567": "116 123", "+14155550100": "988", "+16135550100": "988",
		"+34612345678": "024", "+525555550123": "800 911 2000", "+61412345678": "13 11 14",
	} {
		line, ok := aftercare.CrisisLineFor(phone)
		if !ok || line.Number != want {
			t.Errorf("%s: %+v %v, want %s", phone, line, ok, want)
		}
	}
	if _, ok := aftercare.CrisisLineFor("+8613800138000"); ok {
		t.Error("a country with no line on our list got one")
	}
}
