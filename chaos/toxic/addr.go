package toxic

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/holdfast-dev/holdfast"
)

// endpoint is a TCP address as a listener binds it: an IP, a host name not
// yet resolved, or neither, which is the wildcard (every local address).
type endpoint struct {
	ip   netip.Addr // unmapped: ::ffff:127.0.0.1 is 127.0.0.1
	host string     // a name to resolve; empty when ip is set or for the wildcard
	port uint16
}

// wildcard reports whether e is every local address. An empty host,
// 0.0.0.0 and :: are all the same wildcard, because Go binds a "tcp"
// listener on any of them dual-stack (it shows as [::]:port).
func (e endpoint) wildcard() bool { return !e.ip.IsValid() && e.host == "" }

func (e endpoint) String() string {
	host := e.host
	switch {
	case e.ip.IsValid():
		host = e.ip.String()
	case host == "":
		host = "::"
	}
	return net.JoinHostPort(host, strconv.Itoa(int(e.port)))
}

// parseEndpoint reads "host:port" without resolving names: a literal IP is
// unmapped and an unspecified one is the wildcard.
func parseEndpoint(addr string) (endpoint, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return endpoint{}, fmt.Errorf("must be host:port, got %q", addr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return endpoint{}, fmt.Errorf("bad port in %q", addr)
	}
	e := endpoint{port: uint16(n)}
	if host == "" {
		return e, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip = ip.Unmap(); !ip.IsUnspecified() {
			e.ip = ip
		}
		return e, nil
	}
	e.host = host
	return e, nil
}

// upstreamHostPort splits an upstream, "host:port" or for an HTTP proxy a
// URL whose port defaults to the scheme's.
func upstreamHostPort(upstream string) (string, uint16, error) {
	addr := upstream
	if strings.Contains(upstream, "://") {
		u, err := url.Parse(upstream)
		if err != nil {
			return "", 0, err
		}
		port := u.Port()
		if port == "" {
			port = "80"
			if u.Scheme == "https" {
				port = "443"
			}
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in %q", upstream)
	}
	return host, uint16(n), nil
}

// lookupFunc resolves a host name to its addresses.
type lookupFunc func(host string) ([]netip.Addr, error)

// lookup resolves a host name with the system resolver, within the dial
// timeout.
func (s *Server) lookup(host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// resolveListen returns where net.Listen binds addr: a host name becomes
// its first IPv4 address, else its first address, which is the one
// net.Listen picks. Toxiproxy compares listen addresses resolved this way
// (net.ResolveTCPAddr), so that localhost:8080 and 127.0.0.1:8080 are the
// same proxy.
func resolveListen(addr string, lookup lookupFunc) (endpoint, error) {
	e, err := parseEndpoint(addr)
	if err != nil || e.host == "" {
		return e, err
	}
	ips, err := lookup(e.host)
	if err != nil {
		return endpoint{}, err
	}
	if len(ips) == 0 {
		return endpoint{}, fmt.Errorf("no address for %q", e.host)
	}
	pick := ips[0].Unmap()
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			pick = ip.Unmap()
			break
		}
	}
	e.host = ""
	if !pick.IsUnspecified() {
		e.ip = pick
	}
	return e, nil
}

// tcpEndpoint is the endpoint of a bound listener's address.
func tcpEndpoint(a net.Addr) endpoint {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		e, _ := parseEndpoint(a.String())
		return e
	}
	ap := ta.AddrPort()
	e := endpoint{port: ap.Port()}
	if ip := ap.Addr().Unmap(); ip.IsValid() && !ip.IsUnspecified() {
		e.ip = ip
	}
	return e
}

// loops reports whether a proxy listening on l (resolved) would, dialing
// upstream, connect to itself: the ports match and an address the upstream
// resolves to is one l accepts on. An upstream that does not resolve
// reaches nothing, the proxy included.
func loops(l endpoint, upstream string, lookup lookupFunc) bool {
	host, port, err := upstreamHostPort(upstream)
	if err != nil || port != l.port || l.host != "" {
		return false
	}
	v4Loopback := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if host == "" {
		// An empty host dials the local system, over either family.
		ips = []netip.Addr{v4Loopback, netip.IPv6Loopback()}
	} else {
		ips, _ = lookup(host)
	}
	var local []netip.Addr // the host's interface addresses, read once if needed
	for _, ip := range ips {
		ip = ip.Unmap().WithZone("")
		// The kernel connects a dial to 0.0.0.0 to 127.0.0.1, and :: to ::1.
		if ip.IsUnspecified() && ip.Is4() {
			ip = v4Loopback
		} else if ip.IsUnspecified() {
			ip = netip.IPv6Loopback()
		}
		if !l.wildcard() {
			if ip == l.ip.WithZone("") {
				return true
			}
			continue
		}
		if ip.IsLoopback() {
			return true
		}
		if local == nil {
			local = interfaceAddrs()
		}
		for _, a := range local {
			if a == ip {
				return true
			}
		}
	}
	return false
}

// interfaceAddrs returns the addresses of the host's network interfaces,
// unmapped and without zones.
func interfaceAddrs() []netip.Addr {
	out := []netip.Addr{}
	as, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// checkLoop refuses a proxy listening on l (resolved) whose upstream is
// that same address: each connection would dial the proxy again, until the
// file descriptors ran out. The error is keyed "upstream", like
// Toxiproxy's validation errors a 400. A port of 0 cannot be checked before
// the listener is bound (see [Server.listen]).
func (s *Server) checkLoop(l endpoint, upstream string) error {
	if l.port == 0 || !loops(l, upstream, s.lookup) {
		return nil
	}
	return holdfast.ConfigErrorf("proxy", "upstream", "must not be the proxy's own listen address %s, got %q", l, upstream)
}
