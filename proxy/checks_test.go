package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a backend that answers 200 with the request line it got,
// and remembers every request line and header.
type recorder struct {
	*handlerBackend
	mu   sync.Mutex
	seen []string      // "METHOD request-uri"
	hdrs []http.Header // the matching headers
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.handlerBackend = startHandlerWith(t, func(s *http.Server) {
		s.DisableGeneralOptionsHandler = true // let OPTIONS * through
	}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		io.Copy(io.Discard, r.Body)
		line := r.Method + " " + r.RequestURI
		rec.mu.Lock()
		rec.seen = append(rec.seen, line)
		rec.hdrs = append(rec.hdrs, r.Header.Clone())
		rec.mu.Unlock()
		io.WriteString(w, line)
	})
	return rec
}

func (rec *recorder) lines() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.seen)
}

func (rec *recorder) last() http.Header {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.hdrs) == 0 {
		return nil
	}
	return rec.hdrs[len(rec.hdrs)-1]
}

// rawReply is one response read off a raw connection.
type rawReply struct {
	status int
	header http.Header
	body   string
	close  bool // Connection: close, which ReadResponse takes out of header
}

// rawExchange writes raw to a new connection to addr and reads n responses.
// closed reports whether the server then closed the connection: a read
// that ends in EOF. When it stays open, the next read blocks until the
// connection's deadline (waitLimit), so a test that wants it closed and
// gets an open one fails then, without any timing assertion.
func rawExchange(t *testing.T, addr, raw string, n int, wantClosed bool) (replies []rawReply, closed bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %d responses: %v", len(replies), err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		replies = append(replies, rawReply{resp.StatusCode, resp.Header, string(b), resp.Close})
	}
	if !wantClosed {
		return replies, false
	}
	_, err = br.ReadByte()
	return replies, errors.Is(err, io.EOF)
}

// TestAmbiguousFraming checks that requests whose framing hops can read two
// ways get 400 and the connection closes after it, so the bytes a hop in
// front took for the body are never served as a request (RFC 9112 §6.1,
// §6.3). net/http alone serves the smuggled request in each case, which a
// plain httputil.ReverseProxy on the same bytes shows.
func TestAmbiguousFraming(t *testing.T) {
	t.Parallel()
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name, raw string
		reason    string // "" for requests that are served
		backend   []string
		leaks     bool // ReverseProxy serves /smuggled
	}{
		{"CL and TE",
			"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			"both Content-Length and Transfer-Encoding", nil, true},
		{"TE and CL, TE obfuscated by case",
			"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ChUnKeD\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled,
			"both Content-Length and Transfer-Encoding", nil, true},
		{"TE on HTTP/1.0",
			"POST /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled,
			"HTTP/1.0 request cannot use Transfer-Encoding", nil, true},
		{"TE and CL on HTTP/1.0",
			"POST /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" + smuggled,
			"both Content-Length and Transfer-Encoding", nil, true},
	}
	rec := startRecorder(t)
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, rec.URL))
	rp := httptest.NewServer(httputil.NewSingleHostReverseProxy(mustURL(t, rec.URL)))
	t.Cleanup(rp.Close)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.lines())
			replies, closed := rawExchange(t, e.addr, tt.raw, 1, true)
			r := replies[0]
			if r.status != http.StatusBadRequest || r.header.Get(HeaderReason) != ReasonInvalidRequest || !strings.Contains(r.body, tt.reason) {
				t.Errorf("got %d %s %q; want 400 invalid_request saying %q", r.status, r.header.Get(HeaderReason), r.body, tt.reason)
			}
			if !r.close {
				t.Error("the 400 does not say Connection: close")
			}
			if !closed {
				t.Error("the connection stayed open after the 400")
			}
			if got := rec.lines()[before:]; len(got) != 0 {
				t.Errorf("backend got %q; want nothing", got)
			}

			// The same bytes through net/http's own reverse proxy.
			before = len(rec.lines())
			rawExchange(t, strings.TrimPrefix(rp.URL, "http://"), tt.raw, 2, false)
			if got := rec.lines()[before:]; tt.leaks && !slices.Contains(got, "GET /smuggled") {
				t.Errorf("through httputil.ReverseProxy the backend got %q; the test expects these bytes to smuggle GET /smuggled", got)
			}
		})
	}

	t.Run("CONNECT takes its verdict too", func(t *testing.T) {
		// The handler refuses CONNECT after screening it; were its verdict
		// left behind, the next request would be taken for ambiguous.
		before := len(rec.lines())
		replies, _ := rawExchange(t, e.addr, "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n", 2, false)
		if replies[0].status != http.StatusMethodNotAllowed || replies[1].status != http.StatusOK {
			t.Errorf("statuses %d, %d %q; want 405, 200", replies[0].status, replies[1].status, replies[1].body)
		}
		if got := rec.lines()[before:]; !slices.Equal(got, []string{"GET /after"}) {
			t.Errorf("backend got %q; want [GET /after]", got)
		}
	})

	t.Run("clean pipeline is served", func(t *testing.T) {
		before := len(rec.lines())
		raw := "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
			"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\r\n" + // a CR LF after a POST body is skipped
			"PUT /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n" +
			"GET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		replies, closed := rawExchange(t, e.addr, raw, 4, true)
		for i, r := range replies {
			if r.status != http.StatusOK {
				t.Errorf("response %d: %d %q; want 200", i, r.status, r.body)
			}
		}
		if !closed {
			t.Error("connection not closed after Connection: close")
		}
		want := []string{"GET /1", "POST /2", "PUT /3", "GET /4"}
		if got := rec.lines()[before:]; !slices.Equal(got, want) {
			t.Errorf("backend got %q; want %q", got, want)
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestHeaderCount checks limits.max_headers: fields are counted, not
// names, and a request with more gets 431.
func TestHeaderCount(t *testing.T) {
	t.Parallel()
	rec := startRecorder(t)
	e := startProxy(t, yamlf(`
limits: {max_headers: 5}
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, rec.URL))
	fields := func(n int) string {
		var b strings.Builder
		b.WriteString("GET /h HTTP/1.1\r\nHost: x\r\n")
		for range n - 1 {
			b.WriteString("X-A: 1\r\n") // one name, many fields
		}
		return b.String() + "\r\n"
	}
	replies, _ := rawExchange(t, e.addr, fields(5)+fields(6), 2, false)
	if replies[0].status != http.StatusOK {
		t.Errorf("5 fields: status %d; want 200", replies[0].status)
	}
	r := replies[1]
	if r.status != http.StatusRequestHeaderFieldsTooLarge || r.header.Get(HeaderReason) != ReasonTooManyHeaders {
		t.Errorf("6 fields: %d %s %q; want 431 %s", r.status, r.header.Get(HeaderReason), r.body, ReasonTooManyHeaders)
	}
	for _, c := range e.clients() {
		kv := []string{"X-A", "1", "X-A", "2", "X-A", "3", "X-A", "4", "X-A", "5", "X-A", "6"}
		checkLocal(t, e.send(c.c, "GET", "/", "", kv...), http.StatusRequestHeaderFieldsTooLarge, ReasonTooManyHeaders)
	}
}

// TestPathNormalization checks that a path is routed, and reaches the
// upstream, in its normal form, and that paths with no safe normal form
// get 400.
func TestPathNormalization(t *testing.T) {
	t.Parallel()
	rec := startRecorder(t)
	tests := []struct {
		config string // path_normalization block
		target string
		status int
		want   string // the request line the backend got
	}{
		{"", "/a/b", 200, "GET /a/b"},
		{"", "/a/../internal", 404, ""},
		{"", "/a/%2e%2E/internal", 404, ""},
		{"", "/a/.%2e/internal", 404, ""},
		{"", "/a/..%2finternal", 400, ""},
		{"", "/a/..%2Finternal", 400, ""},
		{"", "/a/b%5Cc", 400, ""},
		{"", "/a/b\\..\\..\\internal", 400, ""},
		{"", "/a/./b/%41%7e/c?x=/../%2e", 200, "GET /a/b/A~/c?x=/../%2e"},
		{"", "/a/x/../../a/y", 200, "GET /a/y"},
		{"", "/a/%c3%a9", 200, "GET /a/%C3%A9"},
		{"", "/a//b", 200, "GET /a//b"},
		{"", "/a/b/..", 200, "GET /a/"},
		{"", "*", 400, ""},
		{"", "http://example.test/a/../a/z", 200, "GET /a/z"},
		{"merge_slashes: true", "/a//b///c", 200, "GET /a/b/c"},
		{"escaped_slashes: unescape", "/a/..%2finternal", 404, ""},
		{"escaped_slashes: unescape", "/a/b%2Fc", 200, "GET /a/b/c"},
		{"escaped_slashes: keep", "/a/b%2fc", 200, "GET /a/b%2Fc"},
		{"backslashes: keep", "/a/b%5cc", 200, "GET /a/b%5Cc"},
	}
	envs := map[string]*env{}
	for _, tt := range tests {
		if envs[tt.config] == nil {
			envs[tt.config] = startProxy(t, yamlf(`
path_normalization: {%s}
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: a
		match: {path_prefix: /a/}
		upstream: u
`, tt.config, rec.URL))
		}
	}
	for _, tt := range tests {
		t.Run(tt.config+" "+tt.target, func(t *testing.T) {
			e := envs[tt.config]
			before := len(rec.lines())
			replies, _ := rawExchange(t, e.addr, "GET "+tt.target+" HTTP/1.1\r\nHost: example.test\r\n\r\n", 1, false)
			r := replies[0]
			if r.status != tt.status {
				t.Errorf("status %d %q; want %d", r.status, r.body, tt.status)
			}
			got := rec.lines()[before:]
			if tt.want == "" && len(got) > 0 || tt.want != "" && !slices.Equal(got, []string{tt.want}) {
				t.Errorf("backend got %q; want %q", got, tt.want)
			}
		})
	}

	// OPTIONS * is a request like another, with the path "*": net/http no
	// longer answers it itself (which hid its framing from the inspector),
	// and only a route without path conditions takes it.
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: a
		match: {path_prefix: /a/}
		upstream: u
	- name: rest
		upstream: u
`, rec.URL))
	before := len(rec.lines())
	replies, _ := rawExchange(t, e.addr, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 1, false)
	if replies[0].status != http.StatusOK {
		t.Errorf("OPTIONS *: status %d; want 200", replies[0].status)
	}
	if got := rec.lines()[before:]; !slices.Equal(got, []string{"OPTIONS *"}) {
		t.Errorf("OPTIONS *: backend got %q", got)
	}
}

// TestUpgradePolicy checks the route's upgrades list: an h2c upgrade is
// served as plain HTTP/1.1, with nothing of it forwarded; an upgrade the
// route does not list gets 403 and the connection closes.
func TestUpgradePolicy(t *testing.T) {
	t.Parallel()
	rec := startRecorder(t)
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: foo
		match: {path_prefix: /foo}
		upgrades: [foo]
		upstream: u
	- name: none
		match: {path_prefix: /none}
		upgrades: []
		upstream: u
	- name: default
		upstream: u
`, rec.URL))
	const h2c = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
	tests := []struct {
		name, raw string
		status    int
		upgrade   string // the Upgrade header the backend got
	}{
		{"h2c served plain", "GET /x HTTP/1.1\r\nHost: x\r\n" + h2c + "\r\n", 200, ""},
		{"h2c dropped from a list", "GET /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c, websocket\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", 0, "websocket"},
		{"h2c on a route allowing none", "GET /none HTTP/1.1\r\nHost: x\r\n" + h2c + "\r\n", 200, ""},
		{"unlisted protocol", "GET /x HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n", 403, ""},
		{"websocket where none is allowed", "GET /none HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", 403, ""},
		{"listed protocol", "GET /foo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: FOO/2\r\n\r\n", 200, "FOO/2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.lines())
			replies, closed := rawExchange(t, e.addr, tt.raw, 1, tt.status == 403)
			r := replies[0]
			if tt.status != 0 && r.status != tt.status {
				t.Errorf("status %d %q; want %d", r.status, r.body, tt.status)
			}
			if tt.status == 403 {
				if r.header.Get(HeaderReason) != ReasonUpgradeNotAllowed {
					t.Errorf("reason %q; want %s", r.header.Get(HeaderReason), ReasonUpgradeNotAllowed)
				}
				if !closed {
					t.Error("the connection stayed open after the 403")
				}
				if got := rec.lines()[before:]; len(got) > 0 {
					t.Errorf("backend got %q; want nothing", got)
				}
				return
			}
			if got := rec.lines()[before:]; len(got) != 1 {
				t.Fatalf("backend got %q; want one request", got)
			}
			h := rec.last()
			if got := h.Get("Upgrade"); got != tt.upgrade {
				t.Errorf("backend got Upgrade %q; want %q", got, tt.upgrade)
			}
			if v, ok := h["Http2-Settings"]; ok {
				t.Errorf("backend got HTTP2-Settings %q", v)
			}
			if tt.upgrade == "" {
				if v, ok := h["Connection"]; ok {
					t.Errorf("backend got Connection %q", v)
				}
			}
		})
	}
}

// TestH2CThroughInspector checks that HTTP/2 with prior knowledge still
// works on an inspected connection, many requests on one connection.
func TestH2CThroughInspector(t *testing.T) {
	t.Parallel()
	rec := startRecorder(t)
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, rec.URL))
	for i := range 5 {
		r := e.send(e.h2c, "POST", fmt.Sprintf("/h2/%d/../%d", i, i), "body")
		mustOK(t, r)
		if r.proto != 2 {
			t.Fatalf("proto %d; want 2", r.proto)
		}
		if want := fmt.Sprintf("POST /h2/%d", i); r.body != want {
			t.Errorf("backend got %q; want %q", r.body, want)
		}
	}
}
