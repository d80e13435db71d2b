// Package egress is the HTTP client for URLs clinics configure (their
// escalation webhooks): it follows no redirects and refuses to connect to
// addresses inside our own network, checked on the address actually
// dialled, so neither a redirect nor a DNS answer can turn a clinic's
// setting into a request to loopback, a private network or cloud metadata.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefusedAddress is a connection refused because of where it would go.
var ErrRefusedAddress = errors.New("address refused for outbound requests")

// Options shape a Client.
type Options struct {
	// Timeout bounds each request, as http.Client.Timeout.
	Timeout time.Duration
	// AllowLoopback permits 127.0.0.0/8 and ::1, for local development and
	// tests whose receivers listen there. Private and link-local stay refused.
	AllowLoopback bool
}

// NewClient returns a client that follows no redirect (the 3xx answer is
// returned as it is, for the caller to treat as a failure) and dials only
// public addresses. It ignores HTTP_PROXY and HTTPS_PROXY: a proxy would
// resolve and connect on our behalf, out of reach of the check.
func NewClient(o Options) *http.Client {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		// Control runs after DNS resolution, on the address about to be
		// connected, for every address tried.
		Control: func(network, address string, _ syscall.RawConn) error {
			return CheckDial(network, address, o.AllowLoopback)
		},
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CheckDial says whether a connection to address ("ip:port", as
// net.Dialer.Control gets it) may be made.
func CheckDial(network, address string, allowLoopback bool) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not an IP address and port", ErrRefusedAddress, network, address)
	}
	if why := Internal(ap.Addr(), allowLoopback); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrRefusedAddress, ap.Addr(), why)
	}
	return nil
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	cgnat       = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598, carrier-grade NAT
	broadcast   = netip.MustParseAddr("255.255.255.255")
)

// Internal names why ip is not a public address ("loopback", "private
// (RFC 1918 or RFC 4193)", ...), or returns "" for a public one.
func Internal(ip netip.Addr, allowLoopback bool) string {
	ip = ip.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsLoopback():
		if allowLoopback {
			return ""
		}
		return "loopback"
	case ip.IsPrivate():
		return "private (RFC 1918 or RFC 4193)"
	case ip.IsLinkLocalUnicast():
		return "link-local (cloud metadata lives there)"
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return "unspecified"
	case ip.IsMulticast() || ip == broadcast:
		return "multicast or broadcast"
	case cgnat.Contains(ip):
		return "carrier-grade NAT (RFC 6598)"
	}
	return ""
}
