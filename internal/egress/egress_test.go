package egress_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/egress"
)

func TestInternalAddressesRefused(t *testing.T) {
	t.Parallel()
	refused := []string{
		"127.0.0.1", "127.1.2.3", "::1", // loopback
		"10.0.0.5", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fd12:3456::1", // private
		"169.254.169.254", "169.254.0.1", "fe80::1", // link-local, cloud metadata
		"0.0.0.0", "::", "0.1.2.3", // unspecified
		"224.0.0.1", "239.1.1.1", "ff02::1", "255.255.255.255", // multicast, broadcast
		"100.64.0.1", "100.127.255.254", // carrier-grade NAT
		"::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:127.0.0.1", // IPv4 in IPv6
		"64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::1", "2002:7f00:1::1", // NAT64, 6to4
		"198.18.0.1", "198.19.255.254", "240.0.0.1", "192.0.0.170", "fec0::1", // benchmarking, reserved, IETF, site-local
	}
	for _, a := range refused {
		if err := egress.CheckDial("tcp", netip.AddrPortFrom(netip.MustParseAddr(a), 443).String(), false); !errors.Is(err, egress.ErrRefusedAddress) {
			t.Errorf("%s: %v, want refused", a, err)
		}
	}
	allowed := []string{"93.184.216.34", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700::1111",
		"64:ff9b::5db8:d822", "2002:5db8:d822::1", "198.20.0.1"} // NAT64 and 6to4 of a public address
	for _, a := range allowed {
		if err := egress.CheckDial("tcp", netip.AddrPortFrom(netip.MustParseAddr(a), 443).String(), false); err != nil {
			t.Errorf("%s: %v, want allowed", a, err)
		}
	}
	// Allowing loopback allows loopback only.
	for a, want := range map[string]bool{"127.0.0.1": true, "::1": true, "10.0.0.5": false, "169.254.169.254": false, "192.168.1.1": false} {
		err := egress.CheckDial("tcp", netip.AddrPortFrom(netip.MustParseAddr(a), 80).String(), true)
		if (err == nil) != want {
			t.Errorf("with loopback allowed, %s: %v", a, err)
		}
	}
}

// The client refuses at dial time: a name that resolves to loopback (as a
// DNS answer could at any moment) reaches nothing, and the error says why.
func TestClientRefusesAtDialTime(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for _, url := range []string{srv.URL, "http://localhost:" + port} {
		res, err := egress.NewClient(egress.Options{Timeout: 5 * time.Second}).Post(url, "application/json", strings.NewReader("{}"))
		if err == nil {
			res.Body.Close()
		}
		if !errors.Is(err, egress.ErrRefusedAddress) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want refused as loopback", url, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests", n)
	}
	res, err := egress.NewClient(egress.Options{Timeout: 5 * time.Second, AllowLoopback: true}).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("with loopback allowed: %v", err)
	}
	res.Body.Close()
	if hits.Load() != 1 {
		t.Errorf("with loopback allowed the server got %d requests, want 1", hits.Load())
	}
}

// A redirect is not followed: the 3xx comes back as the answer, and the
// address it names gets nothing.
func TestClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	client := egress.NewClient(egress.Options{Timeout: 5 * time.Second, AllowLoopback: true})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, redirector.URL, strings.NewReader(`{"client_phone":"+447700900123"}`))
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("status %d, want the 307 itself", res.StatusCode)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect's target got %d requests", n)
	}
}

// Proxies from the environment are not used: a proxy would connect on our
// behalf, out of the dial check's reach.
func TestClientIgnoresProxyEnvironment(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxied.Add(1) }))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	res, err := egress.NewClient(egress.Options{Timeout: 5 * time.Second}).Get("http://10.255.255.1:9/")
	if err == nil {
		res.Body.Close()
	}
	if !errors.Is(err, egress.ErrRefusedAddress) || proxied.Load() != 0 {
		t.Errorf("through HTTP_PROXY: %v, proxy got %d requests; want refused at dial, proxy unused", err, proxied.Load())
	}
}
