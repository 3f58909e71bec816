package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// echoHandler answers with the request's body, and tells in headers what it
// saw: the protocol, the method and the body's length.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("X-Seen-Proto", r.Proto)
	w.Header().Set("X-Seen-Method", r.Method)
	w.Header().Set("X-Seen-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

// TestProtocols sends requests over HTTP/1.1 and h2c to upstreams spoken to
// over http1 and h2c: each combination carries bodies both ways, answers in
// the client's protocol and reaches the backend in the upstream's.
func TestProtocols(t *testing.T) {
	t.Parallel()
	b := startHandler(t, true, echoHandler)
	for _, up := range []struct{ protocol, want string }{{"http1", "HTTP/1.1"}, {"h2c", "HTTP/2.0"}} {
		t.Run("upstream "+up.protocol, func(t *testing.T) {
			e := startProxy(t, yamlf(`
upstreams:
	u:
		protocol: %s
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, up.protocol, b.URL))
			big := strings.Repeat("0123456789abcdef", 20<<10) // 320 KiB: more than the replay buffer
			for _, c := range e.clients() {
				for _, tt := range []struct{ method, body string }{
					{"GET", ""},
					{"POST", "hello"},
					{"PUT", "replayable body"},
					{"POST", big},
					{"PUT", big},
				} {
					r := e.send(c.c, tt.method, "/echo", tt.body)
					mustOK(t, r)
					wantProto := 1
					if c.name == "h2c" {
						wantProto = 2
					}
					if r.proto != wantProto {
						t.Errorf("%s %s: response proto %d; want %d", c.name, tt.method, r.proto, wantProto)
					}
					if got := r.header.Get("X-Seen-Proto"); got != up.want {
						t.Errorf("%s %s: backend saw %s; want %s", c.name, tt.method, got, up.want)
					}
					if got := r.header.Get("X-Seen-Method"); got != tt.method {
						t.Errorf("%s: backend saw method %s; want %s", c.name, got, tt.method)
					}
					if r.body != tt.body {
						t.Errorf("%s %s: echoed %d bytes; want %d", c.name, tt.method, len(r.body), len(tt.body))
					}
					if got := r.attempts(); got != "1" {
						t.Errorf("%s %s: %s = %q; want 1", c.name, tt.method, HeaderAttempts, got)
					}
				}
			}
		})
	}
}

// trailerHandler checks the request's trailer X-Req-Sum against the sha256
// of its body, and answers with a streamed body and the trailer
// X-Checksum.
func trailerHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	w.Header().Set("X-Req-Trailer", r.Trailer.Get("X-Req-Sum"))
	w.Header().Set("X-Req-Sum-Want", hex.EncodeToString(sum[:]))
	w.Header().Set("Trailer", "X-Checksum")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "part one;")
	http.NewResponseController(w).Flush()
	io.WriteString(w, "part two")
	w.Header().Set("X-Checksum", "c0ffee")
}

// TestTrailers checks that response trailers reach the client and request
// trailers reach the backend, for every client and upstream protocol.
func TestTrailers(t *testing.T) {
	t.Parallel()
	b := startHandler(t, true, trailerHandler)
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
				for _, method := range []string{"POST", "PUT"} {
					body := "some request body"
					sum := sha256.Sum256([]byte(body))
					req, _ := http.NewRequestWithContext(t.Context(), method, e.url+"/t", io.NopCloser(strings.NewReader(body)))
					req.ContentLength = -1 // chunked, so that HTTP/1.1 can carry a trailer
					req.Trailer = http.Header{"X-Req-Sum": {hex.EncodeToString(sum[:])}}
					r := do(c.c, req)
					mustOK(t, r)
					if r.body != "part one;part two" {
						t.Errorf("%s %s: body %q; want %q", c.name, method, r.body, "part one;part two")
					}
					if got := r.trailer.Get("X-Checksum"); got != "c0ffee" {
						t.Errorf("%s %s: response trailer X-Checksum = %q; want c0ffee (trailer %v)", c.name, method, got, r.trailer)
					}
					if got, want := r.header.Get("X-Req-Trailer"), r.header.Get("X-Req-Sum-Want"); got != want {
						t.Errorf("%s %s: backend got request trailer X-Req-Sum %q; want %q", c.name, method, got, want)
					}
				}
			}
		})
	}
}

// TestResponseStreams checks that the proxy passes a response body on as
// it arrives: the client reads the first part while the backend is still
// waiting to write the second.
func TestResponseStreams(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := startHandler(t, true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second\n")
	})
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
				req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/stream", nil)
				resp, err := c.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(resp.Body)
				line, err := br.ReadString('\n')
				if err != nil || line != "first\n" {
					t.Fatalf("%s: first line %q, %v; want %q", c.name, line, err, "first\n")
				}
				release <- struct{}{} // the backend writes the rest only now
				rest, err := io.ReadAll(br)
				resp.Body.Close()
				if err != nil || string(rest) != "second\n" {
					t.Errorf("%s: rest %q, %v; want %q", c.name, rest, err, "second\n")
				}
			}
		})
	}
}

// TestRequestStreams checks that a request body that is not kept for replay
// (a POST without Idempotency-Key) is streamed: the backend receives the
// first part before the client has sent the second.
func TestRequestStreams(t *testing.T) {
	t.Parallel()
	got := make(chan string)
	b := startHandler(t, true, func(w http.ResponseWriter, r *http.Request) {
		br := bufio.NewReader(r.Body)
		line, _ := br.ReadString('\n')
		got <- line
		rest, _ := io.ReadAll(br)
		got <- string(rest)
		io.WriteString(w, "done")
	})
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
				pr, pw := io.Pipe()
				req, _ := http.NewRequestWithContext(t.Context(), "POST", e.url+"/upload", pr)
				done := make(chan reply, 1)
				go func() { done <- do(c.c, req) }()
				io.WriteString(pw, "first\n")
				if line := <-got; line != "first\n" {
					t.Fatalf("%s: backend read %q first; want %q", c.name, line, "first\n")
				}
				io.WriteString(pw, "second\n")
				pw.Close()
				if rest := <-got; rest != "second\n" {
					t.Errorf("%s: backend read %q after; want %q", c.name, rest, "second\n")
				}
				r := <-done
				mustOK(t, r)
			}
		})
	}
}

// TestBodyReplayLimit checks retry.max_body_bytes: a body up to the limit is
// kept and sent again on a retry; a larger one is sent once and never
// retried, even with an Idempotency-Key, and the failure is passed through.
func TestBodyReplayLimit(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{Name: "b"})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
		retry: {attempts: 3, retry_on: [5xx], max_body_bytes: 1024, backoff: {base: 1ms, max: 1ms}}
`, eps(b)))
	tests := []struct {
		name       string
		size       int
		chunked    bool
		wantStatus int
		wantDeliv  int64
	}{
		{"small", 1000, false, 200, 2},
		{"exactly the limit", 1024, false, 200, 2},
		{"small chunked", 1000, true, 200, 2},
		{"one byte over", 1025, false, 503, 1},
		{"large", 200 << 10, false, 503, 1},
		{"large chunked", 200 << 10, true, 503, 1},
	}
	for i, tt := range tests {
		for _, c := range e.clients() {
			key := fmt.Sprintf("key-%d-%s", i, c.name)
			b.FailN(1, http.StatusServiceUnavailable)
			body := bytes.Repeat([]byte("x"), tt.size)
			var rd io.Reader = bytes.NewReader(body)
			if tt.chunked {
				rd = io.MultiReader(rd) // hides the length
			}
			req, _ := http.NewRequestWithContext(t.Context(), "POST", e.url+"/orders", rd)
			req.Header.Set("Idempotency-Key", key)
			r := do(c.c, req)
			if r.err != nil {
				t.Fatalf("%s %s: %v", tt.name, c.name, r.err)
			}
			if r.status != tt.wantStatus {
				t.Errorf("%s %s: status %d; want %d", tt.name, c.name, r.status, tt.wantStatus)
			}
			if got := b.Deliveries(key); got != tt.wantDeliv {
				t.Errorf("%s %s: deliveries %d; want %d", tt.name, c.name, got, tt.wantDeliv)
			}
			if got, want := r.attempts(), fmt.Sprint(tt.wantDeliv); got != want {
				t.Errorf("%s %s: %s = %q; want %s", tt.name, c.name, HeaderAttempts, got, want)
			}
			if tt.wantStatus == 503 && !strings.Contains(r.body, "injected failure") {
				t.Errorf("%s %s: body %q; want the backend's failure passed through", tt.name, c.name, r.body)
			}
		}
	}
}

// TestUpgrade checks that a WebSocket upgrade passes through: the client
// gets the backend's 101, then bytes flow both ways until the client
// closes.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-Key: %s\r\n\r\n", r.Header.Get("Sec-WebSocket-Key"))
		brw.Flush()
		// Echo lines until the client closes.
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo: " + line)
			brw.Flush()
		}
	})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, b.URL))

	conn := e.rawConn()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d; want 101", resp.StatusCode)
	}
	if got := resp.Header.Get("Upgrade"); !strings.EqualFold(got, "websocket") {
		t.Errorf("Upgrade = %q; want websocket", got)
	}
	if got := resp.Header.Get("X-Seen-Key"); got != "dGhlIHNhbXBsZSBub25jZQ==" {
		t.Errorf("backend saw Sec-WebSocket-Key %q", got)
	}
	for _, msg := range []string{"hello\n", "world\n"} {
		io.WriteString(conn, msg)
		line, err := br.ReadString('\n')
		if err != nil || line != "echo: "+msg {
			t.Fatalf("read %q, %v; want %q", line, err, "echo: "+msg)
		}
	}

	// Without an upgrade the same backend answers 426, passed through.
	r := e.get("/ws")
	if r.status != http.StatusUpgradeRequired {
		t.Errorf("plain GET: status %d; want 426", r.status)
	}
}

// TestAnswersWithoutBodies checks answers that carry no body or whose
// framing is the backend's business: HEAD keeps the Content-Length of the
// GET, 204 and 304 pass through without a body, and an encoded body passes
// through untouched.
func TestAnswersWithoutBodies(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 100000)
	b := startHandler(t, true, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			if r.Method != "HEAD" {
				io.WriteString(w, big)
			}
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("\x1f\x8bnot really gzip"))
		}
	})
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
				req, _ := http.NewRequestWithContext(t.Context(), "HEAD", e.url+"/big", nil)
				resp, err := c.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.ContentLength != int64(len(big)) {
					t.Errorf("%s HEAD: %d with Content-Length %d; want 200 with %d", c.name, resp.StatusCode, resp.ContentLength, len(big))
				}
				if r := e.send(c.c, "GET", "/big", ""); r.status != 200 || r.body != big {
					t.Errorf("%s GET: %d with %d bytes; want 200 with %d", c.name, r.status, len(r.body), len(big))
				}
				if r := e.send(c.c, "GET", "/204", ""); r.err != nil || r.status != 204 || r.body != "" {
					t.Errorf("%s: %d %q (%v); want an empty 204", c.name, r.status, r.body, r.err)
				}
				r := e.send(c.c, "GET", "/304", "", "If-None-Match", `"v1"`)
				if r.err != nil || r.status != 304 || r.body != "" || r.header.Get("ETag") != `"v1"` {
					t.Errorf("%s: %d %q ETag %q (%v); want an empty 304 with the ETag", c.name, r.status, r.body, r.header.Get("ETag"), r.err)
				}
				r = e.send(c.c, "GET", "/gzip", "", "Accept-Encoding", "gzip")
				if r.err != nil || r.body != "\x1f\x8bnot really gzip" || r.header.Get("Content-Encoding") != "gzip" {
					t.Errorf("%s: encoded body %q, Content-Encoding %q (%v); want both untouched", c.name, r.body, r.header.Get("Content-Encoding"), r.err)
				}
			}
		})
	}
}
