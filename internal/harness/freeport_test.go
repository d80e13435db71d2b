package harness

import (
	"net"
	"strconv"
	"testing"
)

// Ports come from below the kernel's ephemeral range, where no outgoing
// connection takes them between a kill and a restart, and none twice.
func TestFreePortBelowTheEphemeralRangeAndNeverTwice(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 100 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if port >= low || port < 10000 {
			t.Errorf("port %d, want 10000-%d", port, low-1)
		}
		if seen[port] {
			t.Errorf("port %d handed out twice", port)
		}
		seen[port] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("port %d is not free: %v", port, err)
			continue
		}
		ln.Close()
	}
}
