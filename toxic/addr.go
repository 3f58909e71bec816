package toxic

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// endpoint is a TCP address as a listener binds it: an IP, a host name not
// yet resolved, or neither, which is the wildcard (every local address).
type endpoint struct {
	ip   netip.Addr // unmapped: ::ffff:127.0.0.1 is 127.0.0.1
	host string     // a name to resolve; empty when ip is set or for the wildcard
	port uint16
}

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
