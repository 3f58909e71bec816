package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// headWant is what a test expects of a head parseHead accepts.
type headWant struct {
	method, uri, url, host, proto string
	clen                          int64
	chunked, close, expect100     bool
	header                        http.Header
	trailer                       []string // declared trailer names, sorted
}

// headTests are request heads, each accepted (want set) or refused with
// status. They seed FuzzParseHead.
var headTests = []struct {
	name   string
	head   string
	status int // the refusal's status; 0 when accepted
	want   *headWant
}{
	// Accepted.
	{
		name: "plain GET",
		head: "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
		want: &headWant{method: "GET", uri: "/a?b=c", url: "/a?b=c", host: "example.com", proto: "HTTP/1.1",
			header: http.Header{"User-Agent": {"t"}}},
	},
	{
		name: "POST with Content-Length and trimmed values",
		head: "POST /up HTTP/1.1\r\nHost: h:8080\r\nContent-Length: \t 12 \r\nX-A:  v  \r\nx-a: w\r\n\r\n",
		want: &headWant{method: "POST", uri: "/up", url: "/up", host: "h:8080", proto: "HTTP/1.1", clen: 12,
			header: http.Header{"Content-Length": {"12"}, "X-A": {"v", "w"}}},
	},
	{
		name: "chunked, case-insensitive, with declared trailers",
		head: "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nTrailer: x-sum, X-Other\r\n\r\n",
		want: &headWant{method: "PUT", uri: "/c", url: "/c", host: "h", proto: "HTTP/1.1", clen: -1, chunked: true,
			header: http.Header{"Trailer": {"x-sum, X-Other"}}, trailer: []string{"X-Other", "X-Sum"}},
	},
	{
		name: "Content-Length 0 with Expect 100-continue needs no 100",
		head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n",
		want: &headWant{method: "POST", uri: "/", url: "/", host: "h", proto: "HTTP/1.1",
			header: http.Header{"Content-Length": {"0"}}},
	},
	{
		name: "Expect 100-continue with a body",
		head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n",
		want: &headWant{method: "POST", uri: "/", url: "/", host: "h", proto: "HTTP/1.1", clen: 3, expect100: true,
			header: http.Header{"Content-Length": {"3"}}},
	},
	{
		name: "HTTP/1.0 without Host closes",
		head: "GET / HTTP/1.0\r\n\r\n",
		want: &headWant{method: "GET", uri: "/", url: "/", proto: "HTTP/1.0", close: true, header: http.Header{}},
	},
	{
		name: "HTTP/1.0 keep-alive",
		head: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		want: &headWant{method: "GET", uri: "/", url: "/", proto: "HTTP/1.0",
			header: http.Header{"Connection": {"Keep-Alive"}}},
	},
	{
		name: "Connection close among other options",
		head: "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade, CLOSE\r\n\r\n",
		want: &headWant{method: "GET", uri: "/", url: "/", host: "h", proto: "HTTP/1.1", close: true,
			header: http.Header{"Connection": {"upgrade, CLOSE"}}},
	},
	{
		name: "absolute form: the target's authority wins over Host",
		head: "GET http://a.example/p?q HTTP/1.1\r\nHost: b.example\r\n\r\n",
		want: &headWant{method: "GET", uri: "http://a.example/p?q", url: "http://a.example/p?q", host: "a.example",
			proto: "HTTP/1.1", header: http.Header{}},
	},
	{
		name: "CONNECT authority form",
		head: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		want: &headWant{method: "CONNECT", uri: "example.com:443", url: "//example.com:443", host: "example.com:443",
			proto: "HTTP/1.1", header: http.Header{}},
	},
	{
		name: "CONNECT to an IPv6 literal",
		head: "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
		want: &headWant{method: "CONNECT", uri: "[::1]:443", url: "//[::1]:443", host: "[::1]:443",
			proto: "HTTP/1.1", header: http.Header{}},
	},
	{
		name: "OPTIONS asterisk form",
		head: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		want: &headWant{method: "OPTIONS", uri: "*", url: "*", host: "h", proto: "HTTP/1.1", header: http.Header{}},
	},
	{
		name: "empty Host, empty value, obs-text",
		head: "GET / HTTP/1.1\r\nHost:\r\nX-Empty:\r\nX-Latin: caf\xe9\r\n\r\n",
		want: &headWant{method: "GET", uri: "/", url: "/", proto: "HTTP/1.1",
			header: http.Header{"X-Empty": {""}, "X-Latin": {"caf\xe9"}}},
	},
	{
		name: "Content-Length repeated with one value",
		head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		want: &headWant{method: "POST", uri: "/", url: "/", host: "h", proto: "HTTP/1.1", clen: 5,
			header: http.Header{"Content-Length": {"5"}}},
	},

	// Smuggling classics, RFC 9112 §11.2.
	{name: "CL.TE", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{name: "TE.CL", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"},
	{name: "TE.TE, second coding", status: 501, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n"},
	{name: "TE.TE, chunked twice", status: 501, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{name: "TE list", status: 501, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
	{name: "TE unknown", status: 501, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n"},
	{name: "TE with space before colon", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n"},
	{name: "TE with vertical tab", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\vchunked\r\n\r\n"},
	{name: "TE folded", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"},
	{name: "TE behind a bare LF", status: 400, head: "POST / HTTP/1.1\r\nHost: h\nTransfer-Encoding: chunked\r\n\r\n"},
	{name: "TE behind a bare CR", status: 400, head: "POST / HTTP/1.1\r\nHost: h\rTransfer-Encoding: chunked\r\n\r\n"},
	{name: "TE on HTTP/1.0", status: 400, head: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{name: "differing Content-Lengths", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"},
	{name: "Content-Length list", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n"},
	{name: "Content-Length signed", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"},
	{name: "Content-Length negative", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"},
	{name: "Content-Length hex", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n"},
	{name: "Content-Length empty", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"},
	{name: "Content-Length too long", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000000000000\r\n\r\n"},
	{name: "Content-Length with inner space", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n"},
	{name: "Content-Length with space before colon", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n"},

	// Other refusals.
	{name: "bare LF request line", status: 400, head: "GET / HTTP/1.1\nHost: h\r\n\r\n"},
	{name: "bare LF field line", status: 400, head: "GET / HTTP/1.1\r\nHost: h\r\nX: a\n\r\n\r\n"},
	{name: "obs-fold", status: 400, head: "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"},
	{name: "first field folded", status: 400, head: "GET / HTTP/1.1\r\n Host: h\r\n\r\n"},
	{name: "space before colon", status: 400, head: "GET / HTTP/1.1\r\nHost : h\r\n\r\n"},
	{name: "no colon", status: 400, head: "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"},
	{name: "empty name", status: 400, head: "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"},
	{name: "NUL in value", status: 400, head: "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n"},
	{name: "DEL in value", status: 400, head: "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n"},
	{name: "non-token name", status: 400, head: "GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n"},
	{name: "missing Host on 1.1", status: 400, head: "GET / HTTP/1.1\r\nX: v\r\n\r\n"},
	{name: "two Hosts", status: 400, head: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{name: "Host with userinfo", status: 400, head: "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"},
	{name: "Host with path", status: 400, head: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"},
	{name: "Host with space", status: 400, head: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
	{name: "double space in request line", status: 400, head: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"},
	{name: "trailing space in request line", status: 400, head: "GET / HTTP/1.1 \r\nHost: h\r\n\r\n"},
	{name: "tab in target", status: 400, head: "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"},
	{name: "non-ASCII target", status: 400, head: "GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n"},
	{name: "non-token method", status: 400, head: "G(T / HTTP/1.1\r\nHost: h\r\n\r\n"},
	{name: "asterisk for GET", status: 400, head: "GET * HTTP/1.1\r\nHost: h\r\n\r\n"},
	{name: "relative target", status: 400, head: "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"},
	{name: "lower-case version", status: 400, head: "GET / http/1.1\r\nHost: h\r\n\r\n"},
	{name: "two-digit minor", status: 400, head: "GET / HTTP/1.10\r\nHost: h\r\n\r\n"},
	{name: "HTTP/0.9", status: 505, head: "GET / HTTP/0.9\r\n\r\n"},
	{name: "HTTP/2.0", status: 505, head: "GET / HTTP/2.0\r\nHost: h\r\n\r\n"},
	{name: "HTTP/2 preface", status: 505, head: "PRI * HTTP/2.0\r\n\r\n"},
	{name: "Expect other", status: 417, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 200-ok\r\n\r\n"},
	{name: "Expect twice", status: 417, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n"},
	// The last Expect field must not hide an earlier one: RFC 9110 §10.1.1
	// makes the field a list, and the client waits for its 100.
	{name: "Expect 100-continue then empty", status: 417, head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-continue\r\nExpect:\r\n\r\n"},
	// net/http refuses these (fixTrailer): a trailer must not reframe
	// the message (RFC 9110 §6.5.1).
	{name: "Trailer declares Content-Length", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n"},
	{name: "Trailer declares Transfer-Encoding", status: 400, head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: transfer-encoding\r\n\r\n"},
	// The authority form's authority is the request's Host: it must be a
	// host, as the Host field must.
	{name: "CONNECT with userinfo", status: 400, head: "CONNECT user@evil.example:443 HTTP/1.1\r\nHost: good.example:443\r\n\r\n"},
	{name: "CONNECT with path", status: 400, head: "CONNECT evil.example/x HTTP/1.1\r\nHost: good.example\r\n\r\n"},
	// net/http reads these authorities otherwise, or not at all.
	{name: "CONNECT with two ports", status: 400, head: "CONNECT a.example:1:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"},
	{name: "CONNECT with a named port", status: 400, head: "CONNECT a.example:https HTTP/1.1\r\nHost: a.example:443\r\n\r\n"},
	{name: "CONNECT with an open bracket", status: 400, head: "CONNECT [::1:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"},
	{name: "CONNECT percent-encoded", status: 400, head: "CONNECT a%2e.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"},
	{name: "CONNECT with a bracketed name", status: 400, head: "CONNECT [a.example]:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"},
	{name: "CONNECT with a bracketed IPv4 address", status: 400, head: "CONNECT [1.2.3.4]:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"},
	{name: "CONNECT without a port", status: 400, head: "CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n"},
}

func TestParseHead(t *testing.T) {
	for _, tt := range headTests {
		t.Run(tt.name, func(t *testing.T) {
			if end := headEnd([]byte(tt.head), 0); end != len(tt.head) {
				t.Fatalf("headEnd = %d; want %d (a table head is one whole head)", end, len(tt.head))
			}
			var req http.Request
			info, herr := parseHead([]byte(tt.head), &req)
			if tt.want == nil {
				if herr == nil {
					t.Fatalf("accepted %q; want a %d", tt.head, tt.status)
				}
				if herr.status != tt.status {
					t.Fatalf("status %d (%s); want %d", herr.status, herr.msg, tt.status)
				}
				return
			}
			if herr != nil {
				t.Fatalf("refused with %d (%s); want accepted", herr.status, herr.msg)
			}
			w := tt.want
			got := headWant{
				method: req.Method, uri: req.RequestURI, url: req.URL.String(), host: req.Host, proto: req.Proto,
				clen: req.ContentLength, chunked: info.chunked, close: info.close, expect100: info.expect100,
				header: req.Header, trailer: trailerNames(req.Trailer),
			}
			if diff := cmp.Diff(*w, got, cmp.AllowUnexported(headWant{})); diff != "" {
				t.Errorf("parsed request (-want +got):\n%s", diff)
			}
			if req.Close != info.close {
				t.Errorf("req.Close = %v; want info.close %v", req.Close, info.close)
			}
			if err := agreeWithNetHTTP([]byte(tt.head), &req, info); err != "" {
				t.Error(err)
			}
		})
	}
}

func trailerNames(h http.Header) []string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// agreeWithNetHTTP reads input, which starts with a head parseHead accepted
// into req, with http.ReadRequest, and returns how the two disagree, or "".
func agreeWithNetHTTP(input []byte, req *http.Request, info headInfo) string {
	nr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(input)))
	if err != nil {
		return "parseHead accepts what net/http refuses (" + err.Error() + ")"
	}
	var diffs []string
	add := func(what string, want, got any) {
		if d := cmp.Diff(want, got); d != "" {
			diffs = append(diffs, what+" (-net/http +parseHead):\n"+d)
		}
	}
	add("Method", nr.Method, req.Method)
	add("RequestURI", nr.RequestURI, req.RequestURI)
	add("URL", nr.URL.String(), req.URL.String())
	add("Host", nr.Host, req.Host)
	add("Proto", nr.Proto, req.Proto)
	add("ProtoMinor", nr.ProtoMinor, req.ProtoMinor)
	add("ContentLength", nr.ContentLength, req.ContentLength)
	add("chunked", len(nr.TransferEncoding) > 0, info.chunked)
	add("Close", nr.Close, req.Close)
	add("Trailer", trailerNames(nr.Trailer), trailerNames(req.Trailer))

	// What parseHead leaves out on purpose: Host (net/http's server
	// removes it too; it is req.Host) and Expect, which the server
	// answers itself. What net/http adds or removes on its own: the
	// Cache-Control it makes of "Pragma: no-cache" (RFC 7234 §5.4), and
	// Trailer, which it moves to r.Trailer for a chunked body (compared
	// above).
	nh := nr.Header.Clone()
	delete(nh, "Host")
	if _, ok := req.Header["Expect"]; !ok {
		delete(nh, "Expect")
	}
	if _, ok := req.Header["Cache-Control"]; !ok {
		if p := nr.Header["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
			delete(nh, "Cache-Control")
		}
	}
	ph := req.Header.Clone()
	if info.chunked {
		delete(ph, "Trailer")
	}
	add("Header", nh, ph)
	return strings.Join(diffs, "\n")
}

// FuzzParseHead holds parseHead to net/http's reading: whatever parseHead
// accepts, net/http accepts too and reads the same way.
func FuzzParseHead(f *testing.F) {
	for _, tt := range headTests {
		f.Add([]byte(tt.head))
	}
	f.Add([]byte("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n"))
	f.Add([]byte("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		end := headEnd(input, 0)
		if end < 0 {
			return
		}
		var req http.Request
		info, herr := parseHead(input[:end], &req)
		if herr != nil {
			switch herr.status {
			case 400, 417, 501, 505:
			default:
				t.Fatalf("%q: refused with %d; want 400, 417, 501 or 505", input, herr.status)
			}
			return
		}
		if req.Close != info.close {
			t.Fatalf("%q: req.Close = %v; info.close = %v", input, req.Close, info.close)
		}
		if info.chunked != (req.ContentLength == -1) || req.ContentLength < -1 {
			t.Fatalf("%q: chunked %v with ContentLength %d", input, info.chunked, req.ContentLength)
		}
		if err := agreeWithNetHTTP(input, &req, info); err != "" {
			t.Fatalf("%q:\n%s", input, err)
		}
	})
}

func TestChunkSize(t *testing.T) {
	tests := []struct {
		line string
		n    int64
		ok   bool
	}{
		{"0", 0, true},
		{"a", 10, true},
		{"Ff", 255, true},
		{"5;name=value", 5, true},
		{"5 ;name", 5, true},
		{"5\t; a=\"q; r\"", 5, true},
		{"5;", 5, true},
		{"5 ", 5, true},
		{"fffffffffffffff", 1<<60 - 1, true}, // 15 digits: the most taken
		{"000000000000001", 1, true},
		{"1000000000000000", 0, false}, // 16 digits
		{"0000000000000001", 0, false}, // 16 digits, even with leading zeros
		{"", 0, false},
		{";ext", 0, false},
		{" 5", 0, false},
		{"+5", 0, false},
		{"-1", 0, false},
		{"0x5", 0, false},
		{"5 x", 0, false},
		{"g", 0, false},
		{"5;a\x00", 0, false},
		{"5;a\rb", 0, false},
		{"5;a\x7f", 0, false},
	}
	for _, tt := range tests {
		n, ok := chunkSize([]byte(tt.line))
		if n != tt.n || ok != tt.ok {
			t.Errorf("chunkSize(%q) = %d, %v; want %d, %v", tt.line, n, ok, tt.n, tt.ok)
		}
	}
}

func TestParseLength(t *testing.T) {
	tests := []struct {
		in string
		n  int64
		ok bool
	}{
		{"0", 0, true},
		{"007", 7, true},
		{"123456789012345678", 123456789012345678, true}, // 18 digits: the most taken
		{"999999999999999999", 999999999999999999, true},
		{"1234567890123456789", 0, false}, // 19 digits
		{"", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{"1e3", 0, false},
		{"0x1", 0, false},
		{"1,1", 0, false},
		{"١", 0, false}, // a non-ASCII digit
	}
	for _, tt := range tests {
		n, ok := parseLength(tt.in)
		if n != tt.n || ok != tt.ok {
			t.Errorf("parseLength(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
		}
	}
}

func TestHeadEnd(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
	tests := []struct {
		b    string
		from int
		want int
	}{
		{head, 0, len(head)},
		{head + "GET", 0, len(head)},
		{head, len(head) - 1, len(head)}, // the terminator straddles from
		{head[:len(head)-1], 0, -1},
		{"GET / HTTP/1.1\n\n", 0, -1},
		{"", 0, -1},
		{"\r\n\r\n", 0, 4},
	}
	for _, tt := range tests {
		if got := headEnd([]byte(tt.b), tt.from); got != tt.want {
			t.Errorf("headEnd(%q, %d) = %d; want %d", tt.b, tt.from, got, tt.want)
		}
	}
}
