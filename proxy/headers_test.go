package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
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
				r := e.send(c.c, "GET", "/a%2Fb/c?x=1&y=%20z", "", kv...)
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
				if s.RequestURI != "/a%2Fb/c?x=1&y=%20z" {
					t.Errorf("%s: backend got request URI %q; want /a%%2Fb/c?x=1&y=%%20z", c.name, s.RequestURI)
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
