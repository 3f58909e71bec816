package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// seen is what headerEcho tells about a request it received.
type seen struct {
	Host       string
	RequestURI string
	Header     http.Header
}

// headerEcho answers with a JSON [seen], and with hop-by-hop response
// headers the proxy must not pass on. It echoes X-Request-Id, as many
// services do.
func headerEcho(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-Id", r.Header.Get("X-Request-Id"))
	h.Set("Connection", "X-Resp-Hop")
	h.Set("X-Resp-Hop", "must not pass")
	h.Set("Proxy-Authenticate", "Basic realm=upstream")
	h.Set("X-End-To-End", "kept")
	json.NewEncoder(w).Encode(seen{Host: r.Host, RequestURI: r.RequestURI, Header: r.Header})
}

func decodeSeen(t *testing.T, r reply) seen {
	t.Helper()
	mustOK(t, r)
	var s seen
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("backend answer %q: %v", r.body, err)
	}
	return s
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestHeaders checks what the proxy does to headers on the way: hop-by-hop
// headers are removed both ways (also those named in Connection),
// X-Forwarded-For and X-Forwarded-Proto are appended to, x-request-id is
// made when missing and passed on, and traceparent, Host, path and query
// pass untouched.
func TestHeaders(t *testing.T) {
	t.Parallel()
	b := startHandler(t, true, headerEcho)
	for _, protocol := range []string{"http1", "h2c"} {
		t.Run("upstream "+protocol, func(t *testing.T) {
			e := startProxy(t, yamlf(`
upstreams:
	u:
		protocol: %s
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, protocol, b.URL))
			for _, c := range e.clients() {
				kv := []string{
					"X-Forwarded-For", "10.0.0.1",
					"X-Forwarded-Proto", "https",
					"Traceparent", traceparent,
					"Tracestate", "vendor=opaque",
					"Proxy-Authorization", "Basic c2VjcmV0",
					"Keep-Alive", "timeout=5",
					"Te", "trailers",
				}
				if c.name == "http1" {
					// HTTP/2 forbids connection-specific headers, so only an
					// HTTP/1.1 client can send these.
					kv = append(kv, "Connection", "keep-alive, X-Hop", "X-Hop", "must not pass", "Proxy-Connection", "keep-alive")
				}
				r := e.send(c.c, "GET", "/a%3Bb/c?x=1&y=%20z", "", kv...)
				s := decodeSeen(t, r)
				for _, hop := range []string{"Connection", "X-Hop", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization", "Upgrade", "Transfer-Encoding"} {
					if v, ok := s.Header[hop]; ok {
						t.Errorf("%s: backend got hop-by-hop %s: %q", c.name, hop, v)
					}
				}
				if got := s.Header.Get("Te"); got != "trailers" {
					t.Errorf("%s: backend got TE %q; want trailers", c.name, got)
				}
				if got := s.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "10.0.0.1, 127.0.0.1" {
					t.Errorf("%s: X-Forwarded-For = %q; want [\"10.0.0.1, 127.0.0.1\"]", c.name, got)
				}
				if got := s.Header.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != "https, http" {
					t.Errorf("%s: X-Forwarded-Proto = %q; want [\"https, http\"]", c.name, got)
				}
				if got := s.Header.Get("Traceparent"); got != traceparent {
					t.Errorf("%s: traceparent = %q; want %q", c.name, got, traceparent)
				}
				if got := s.Header.Get("Tracestate"); got != "vendor=opaque" {
					t.Errorf("%s: tracestate = %q; want vendor=opaque", c.name, got)
				}
				id := s.Header.Get("X-Request-Id")
				if !uuidShape.MatchString(id) {
					t.Errorf("%s: backend got x-request-id %q; want a generated UUID", c.name, id)
				}
				if got := r.header.Values("X-Request-Id"); len(got) != 1 || got[0] != id {
					t.Errorf("%s: client got x-request-id %q; want [%q]", c.name, got, id)
				}
				if s.Host != e.addr {
					t.Errorf("%s: backend got Host %q; want the client's %q", c.name, s.Host, e.addr)
				}
				if s.RequestURI != "/a%3Bb/c?x=1&y=%20z" {
					t.Errorf("%s: backend got request URI %q; want /a%%3Bb/c?x=1&y=%%20z", c.name, s.RequestURI)
				}
				respHops := []string{"Proxy-Authenticate"}
				if protocol == "http1" {
					// Over HTTP/2 the backend's Connection header is not sent,
					// so X-Resp-Hop is an ordinary header there.
					respHops = append(respHops, "X-Resp-Hop")
				}
				for _, hop := range respHops {
					if v, ok := r.header[hop]; ok {
						t.Errorf("%s: client got hop-by-hop response header %s: %q", c.name, hop, v)
					}
				}
				if got := r.header.Get("X-End-To-End"); got != "kept" {
					t.Errorf("%s: X-End-To-End = %q; want kept", c.name, got)
				}

				// A client's own x-request-id passes on unchanged; so does a
				// request without X-Forwarded-* get fresh ones.
				r = e.send(c.c, "GET", "/", "", "X-Request-Id", "client-id-42")
				s = decodeSeen(t, r)
				if got := s.Header.Get("X-Request-Id"); got != "client-id-42" {
					t.Errorf("%s: backend got x-request-id %q; want client-id-42", c.name, got)
				}
				if got := r.header.Values("X-Request-Id"); len(got) != 1 || got[0] != "client-id-42" {
					t.Errorf("%s: client got x-request-id %q; want [client-id-42]", c.name, got)
				}
				if got := s.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
					t.Errorf("%s: X-Forwarded-For = %q; want 127.0.0.1", c.name, got)
				}
				if got := s.Header.Get("X-Forwarded-Proto"); got != "http" {
					t.Errorf("%s: X-Forwarded-Proto = %q; want http", c.name, got)
				}
			}
		})
	}
}

// TestRequestIDOnLocalReply checks that a local reply tells the client the
// request id too, so that a failure can be found in the logs.
func TestRequestIDOnLocalReply(t *testing.T) {
	t.Parallel()
	b := startHandler(t, false, headerEcho)
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: only-a
		match: {path: /a}
		upstream: u
`, b.URL))
	r := e.get("/nowhere", "X-Request-Id", "lost-1")
	checkLocal(t, r, http.StatusNotFound, ReasonNoRoute)
	if got := r.header.Get("X-Request-Id"); got != "lost-1" {
		t.Errorf("x-request-id = %q; want lost-1", got)
	}
}

// TestExpectContinue sends a request the way curl sends a large upload:
// with Expect: 100-continue, waiting for the interim answer before the
// body. The client must get 100 Continue and then the backend's final
// answer, never the backend's interim one in its place.
func TestExpectContinue(t *testing.T) {
	t.Parallel()
	b := startHandler(t, true, echoHandler)
	for _, protocol := range []string{"http1", "h2c"} {
		t.Run("upstream "+protocol, func(t *testing.T) {
			e := startProxy(t, yamlf(`
upstreams:
	u:
		protocol: %s
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, protocol, b.URL))
			for _, method := range []string{"POST", "PUT"} {
				conn := e.rawConn()
				body := strings.Repeat("u", 2000)
				fmt.Fprintf(conn, "%s /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", method, len(body))
				br := bufio.NewReader(conn)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("%s: reading the interim answer: %v", method, err)
				}
				if resp.StatusCode != http.StatusContinue {
					t.Fatalf("%s: first answer %d; want 100", method, resp.StatusCode)
				}
				io.WriteString(conn, body)
				resp, err = http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("%s: reading the final answer: %v", method, err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || err != nil || string(got) != body {
					t.Errorf("%s: final answer %d with %d bytes (%v); want 200 echoing %d bytes", method, resp.StatusCode, len(got), err, len(body))
				}
			}
		})
	}
}

var upgradeTests = []struct {
	name    string
	header  http.Header
	allowed []string
	proto   string
	refuse  bool
	after   http.Header // h after the call; nil: unchanged
}{
	{"no upgrade", http.Header{"Upgrade": {"websocket"}}, nil, "", false, nil},
	{"websocket", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, []string{"websocket"}, "websocket", false, nil},
	{"case and version", http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {"WebSocket/13"}}, []string{"websocket"}, "WebSocket/13", false, nil},
	{"not listed", http.Header{"Connection": {"upgrade"}, "Upgrade": {"foo"}}, []string{"websocket"}, "", true, nil},
	{"one of two not listed", http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket, foo"}}, []string{"websocket"}, "", true, nil},
	{"no protocol named", http.Header{"Connection": {"upgrade"}, "Upgrade": {" , "}}, []string{"websocket"}, "", true, nil},
	{"none allowed", http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket"}}, []string{}, "", true, nil},
	{"h2c", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMA"}},
		[]string{"websocket"}, "", false, http.Header{}},
	{"h2c whatever allowed says", http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"H2C"}},
		[]string{"h2c"}, "", false, http.Header{"Connection": {"keep-alive"}}},
	{"h2c and websocket", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c", "websocket"}, "Http2-Settings": {"AAMA"}},
		[]string{"websocket"}, "websocket", false, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}},
}

func TestAdmitUpgrade(t *testing.T) {
	for _, tt := range upgradeTests {
		h := tt.header.Clone()
		proto, refuse := admitUpgrade(h, tt.allowed)
		if proto != tt.proto || refuse != tt.refuse {
			t.Errorf("%s: admitUpgrade = %q, %v; want %q, %v", tt.name, proto, refuse, tt.proto, tt.refuse)
		}
		want := tt.after
		if want == nil {
			want = tt.header
		}
		if diff := cmp.Diff(want, h); diff != "" {
			t.Errorf("%s: header after (-want +got):\n%s", tt.name, diff)
		}
	}
}

// FuzzAdmitUpgrade checks that no Upgrade and Connection values pass h2c,
// or a protocol not allowed, and that a request left without a protocol is
// no upgrade at all.
func FuzzAdmitUpgrade(f *testing.F) {
	for _, tt := range upgradeTests {
		f.Add(strings.Join(tt.header["Connection"], ","), strings.Join(tt.header["Upgrade"], ","), strings.Join(tt.allowed, ","))
	}
	f.Fuzz(func(t *testing.T, conn, upgrade, allowed string) {
		h := http.Header{"Connection": {conn}, "Upgrade": {upgrade}}
		list := strings.Split(allowed, ",")
		proto, refuse := admitUpgrade(h, list)
		if refuse {
			return
		}
		if proto == "" && upgradeType(h) != "" {
			t.Fatalf("%q %q: no protocol, yet still an upgrade to %q", conn, upgrade, upgradeType(h))
		}
		for p := range strings.SplitSeq(proto, ",") {
			name, _, _ := strings.Cut(textproto.TrimString(p), "/")
			if name == "" {
				continue
			}
			if strings.EqualFold(name, "h2c") || !slices.ContainsFunc(list, func(a string) bool { return strings.EqualFold(a, name) }) {
				t.Fatalf("%q %q allowed %q: passed %q", conn, upgrade, allowed, proto)
			}
		}
	})
}

func TestTrailerFilters(t *testing.T) {
	req := &http.Request{
		ProtoMajor: 1,
		Header:     http.Header{"Connection": {"X-Hop"}},
		// As net/http's server leaves it at the head: the declared names.
		Trailer: http.Header{"X-Checksum": nil, "Content-Length": nil, "Authorization": nil, "X-Hop": nil, "x-lower": nil, "Bad Name": nil},
	}
	f := requestTrailers(req)
	if got, want := f.names(), []string{"X-Checksum", "X-Lower"}; !slices.Equal(got, want) {
		t.Errorf("request names = %q; want %q", got, want)
	}
	// As the body ends, net/http adds whatever the client sent.
	got := f.pick(http.Header{
		"X-Checksum": {"abc"}, "X-Lower": {"1", "2"}, "Authorization": {"Bearer x"},
		"X-Undeclared": {"u"}, "Transfer-Encoding": {"chunked"}, "X-Hop": {"h"},
	})
	if diff := cmp.Diff(http.Header{"X-Checksum": {"abc"}, "X-Lower": {"1", "2"}}, got); diff != "" {
		t.Errorf("request trailers (-want +got):\n%s", diff)
	}
	if got := (trailerFilter{}).pick(http.Header{"X-A": {"1"}}); got != nil {
		t.Errorf("zero filter passed %q", got)
	}

	// HTTP/2 responses (gRPC) need not declare their trailers.
	h2 := responseTrailers(&http.Response{ProtoMajor: 2, Header: http.Header{}})
	got = h2.pick(http.Header{"Grpc-Status": {"0"}, "Grpc-Message": {""}, "Set-Cookie": {"s=1"}, "Content-Type": {"x"}})
	if diff := cmp.Diff(http.Header{"Grpc-Status": {"0"}, "Grpc-Message": {""}}, got); diff != "" {
		t.Errorf("HTTP/2 response trailers (-want +got):\n%s", diff)
	}
	h1 := responseTrailers(&http.Response{ProtoMajor: 1, Header: http.Header{}, Trailer: http.Header{"X-Sum": nil}})
	got = h1.pick(http.Header{"X-Sum": {"1"}, "Grpc-Status": {"0"}})
	if diff := cmp.Diff(http.Header{"X-Sum": {"1"}}, got); diff != "" {
		t.Errorf("HTTP/1 response trailers (-want +got):\n%s", diff)
	}
}
