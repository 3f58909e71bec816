package toxic

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

// fakeLookup resolves a few names the way a resolver might answer them:
// IPv4 addresses mapped into IPv6, as Go's resolver returns them.
func fakeLookup(host string) ([]netip.Addr, error) {
	switch host {
	case "localhost":
		return []netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1"), netip.MustParseAddr("::1")}, nil
	case "v6first":
		return []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}, nil
	case "v6only":
		return []netip.Addr{netip.MustParseAddr("::1")}, nil
	case "anywhere":
		return []netip.Addr{netip.MustParseAddr("0.0.0.0")}, nil
	case "other":
		return []netip.Addr{netip.MustParseAddr("192.0.2.7")}, nil
	}
	return nil, errors.New("no such host")
}

// listenCases is the resolution table; it also seeds FuzzResolveListen.
var listenCases = []struct {
	addr string
	want string // the endpoint; "" for an error
}{
	{"127.0.0.1:80", "127.0.0.1:80"},
	{"localhost:80", "127.0.0.1:80"},
	{"v6first:80", "127.0.0.1:80"}, // net.Listen picks the first IPv4 address
	{"v6only:80", "[::1]:80"},
	{"[::ffff:127.0.0.1]:80", "127.0.0.1:80"},
	{"[::1]:80", "[::1]:80"},
	{":80", "[::]:80"},
	{"0.0.0.0:80", "[::]:80"}, // Go binds every wildcard dual-stack
	{"[::]:80", "[::]:80"},
	{"anywhere:80", "[::]:80"},
	{"[fe80::1%eth0]:80", "[fe80::1%eth0]:80"},
	{"127.0.0.1:0", "127.0.0.1:0"},
	{"nohost:80", ""},
	{"127.0.0.1", ""},
	{"127.0.0.1:65536", ""},
	{"127.0.0.1:http", ""},
}

func TestResolveListen(t *testing.T) {
	for _, tt := range listenCases {
		e, err := resolveListen(tt.addr, fakeLookup)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("resolveListen(%q) = %s; want an error", tt.addr, e)
		case tt.want != "" && err != nil:
			t.Errorf("resolveListen(%q): %v; want %s", tt.addr, err, tt.want)
		case tt.want != "" && e.String() != tt.want:
			t.Errorf("resolveListen(%q) = %s; want %s", tt.addr, e, tt.want)
		}
	}
}

func TestResolvedListenAddressesCompare(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"localhost:80", "127.0.0.1:80", true},
		{"[::ffff:127.0.0.1]:80", "127.0.0.1:80", true},
		{"0.0.0.0:80", "[::]:80", true},
		{":80", "0.0.0.0:80", true},
		{"127.0.0.1:80", "127.0.0.1:81", false},
		{"127.0.0.1:80", "127.0.0.2:80", false},
		{"[::1]:80", "127.0.0.1:80", false},
		{"[::]:80", "127.0.0.1:80", false},
		{"127.0.0.1:0", "127.0.0.1:41234", false},
	}
	for _, tt := range tests {
		a, errA := resolveListen(tt.a, fakeLookup)
		b, errB := resolveListen(tt.b, fakeLookup)
		if errA != nil || errB != nil {
			t.Fatalf("resolve %q, %q: %v, %v", tt.a, tt.b, errA, errB)
		}
		if got := a == b; got != tt.same {
			t.Errorf("%s resolved equals %s resolved: got %v; want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

// FuzzResolveListen checks that no address panics the parser, and that a
// resolved endpoint prints as an address that resolves to itself.
func FuzzResolveListen(f *testing.F) {
	for _, tt := range listenCases {
		f.Add(tt.addr)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		e, err := resolveListen(addr, fakeLookup)
		if err != nil {
			return
		}
		if e.host != "" {
			t.Fatalf("resolveListen(%q) left the name %q unresolved", addr, e.host)
		}
		again, err := resolveListen(e.String(), fakeLookup)
		if err != nil || again != e {
			t.Fatalf("resolveListen(%q) = %s, which resolves to %s, %v", addr, e, again, err)
		}
	})
}

// loopCases is the self-loop table; it also seeds FuzzLoops.
var loopCases = []struct {
	listen, upstream string
	loops            bool
}{
	{"127.0.0.1:5000", "127.0.0.1:5000", true},
	{"127.0.0.1:5000", "localhost:5000", true},
	{"localhost:5000", "127.0.0.1:5000", true},
	{"[::ffff:127.0.0.1]:5000", "127.0.0.1:5000", true},
	{"127.0.0.1:5000", "v6first:5000", true}, // the dial may fall back to 127.0.0.1
	{"0.0.0.0:5000", "127.0.0.1:5000", true},
	{":5000", "localhost:5000", true},
	{"[::]:5000", "[::1]:5000", true},
	{"[::]:5000", "127.0.0.9:5000", true}, // all of 127/8 is local
	{"[::1]:5000", "v6only:5000", true},
	{"127.0.0.1:5000", "0.0.0.0:5000", true}, // dialing 0.0.0.0 reaches 127.0.0.1
	{"127.0.0.1:5000", ":5000", true},
	{"[::1]:5000", "[::]:5000", true},
	{"127.0.0.1:5000", "anywhere:5000", true},
	{"127.0.0.1:80", "http://localhost", true},
	{"127.0.0.1:443", "https://127.0.0.1", true},
	{"127.0.0.1:8080", "http://127.0.0.1:8080", true},
	{"127.0.0.1:5000", "127.0.0.1:5001", false},
	{"127.0.0.1:5000", "127.0.0.2:5000", false},
	{"[::1]:5000", "127.0.0.1:5000", false},
	{"127.0.0.1:5000", "[::1]:5000", false},
	{"127.0.0.1:5000", "[::]:5000", false}, // dialing :: reaches ::1
	{"127.0.0.1:5000", "other:5000", false},
	{"127.0.0.1:5000", "nohost:5000", false},
	{"[::]:5000", "192.0.2.7:5000", false}, // not an address of this host
	{"127.0.0.1:80", "https://localhost", false},
	{"127.0.0.1:5000", "bad", false},
}

func TestLoops(t *testing.T) {
	for _, tt := range loopCases {
		l, err := resolveListen(tt.listen, fakeLookup)
		if err != nil {
			t.Fatalf("resolveListen(%q): %v", tt.listen, err)
		}
		if got := loops(l, tt.upstream, fakeLookup); got != tt.loops {
			t.Errorf("loops(%s, %s) = %v; want %v", tt.listen, tt.upstream, got, tt.loops)
		}
	}
	// A wildcard listener accepts on every interface address.
	for _, ip := range interfaceAddrs() {
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		up := netip.AddrPortFrom(ip, 5000).String()
		if !loops(endpoint{port: 5000}, up, fakeLookup) {
			t.Errorf("loops([::]:5000, %s) = false; want true, %s is this host's", up, ip)
		}
	}
}

func TestTCPEndpoint(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 80}, "[::]:80"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 80}, "[::]:80"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "127.0.0.1:80"}, // 16-byte form
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "[::1]:80"},
		{&net.TCPAddr{Port: 80}, "[::]:80"},
	}
	for _, tt := range tests {
		if got := tcpEndpoint(tt.addr).String(); got != tt.want {
			t.Errorf("tcpEndpoint(%v) = %s; want %s", tt.addr, got, tt.want)
		}
	}
}

// FuzzLoops checks that no listen and upstream pair panics the check, and
// that a loop is only ever found on the listener's own port.
func FuzzLoops(f *testing.F) {
	for _, tt := range loopCases {
		f.Add(tt.listen, tt.upstream)
	}
	f.Fuzz(func(t *testing.T, listen, upstream string) {
		l, err := resolveListen(listen, fakeLookup)
		if err != nil {
			return
		}
		if !loops(l, upstream, fakeLookup) {
			return
		}
		if _, port, err := upstreamHostPort(upstream); err != nil || port != l.port {
			t.Fatalf("loops(%s, %q) on port %d, %v", l, upstream, port, err)
		}
	})
}
