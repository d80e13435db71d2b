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
	// Not public either, though Go's predicates do not say so.
	special = []struct {
		prefix netip.Prefix
		why    string
	}{
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (RFC 6890)"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (RFC 2544)"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved (RFC 1112)"},
		{netip.MustParsePrefix("fec0::/10"), "site-local (RFC 3879)"},
	}
	// IPv6 forms that carry an IPv4 address, which is then what is reached.
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052
	nat64Site = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour = netip.MustParsePrefix("2002::/16") // RFC 3056
)

// embeddedIPv4 is the IPv4 address a NAT64 or 6to4 address leads to.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip), nat64Site.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// Internal names why ip is not a public address ("loopback", "private
// (RFC 1918 or RFC 4193)", ...), or returns "" for a public one.
func Internal(ip netip.Addr, allowLoopback bool) string {
	ip = ip.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1
	if v4, ok := embeddedIPv4(ip); ok {
		if why := Internal(v4, false); why != "" {
			return why + ", by way of " + ip.String()
		}
	}
	for _, s := range special {
		if s.prefix.Contains(ip) {
			return s.why
		}
	}
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
