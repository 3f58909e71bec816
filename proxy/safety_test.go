package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/breaker"
)

// rawExchange writes req on a fresh connection to e and reads one response.
func (e *env) rawExchange(req string) (*http.Response, string) {
	e.t.Helper()
	c := e.rawConn()
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		e.t.Fatalf("reading the response to %q: %v", short(req), err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestClientFaultsNeverCountAgainstTheUpstream: malformed and oversized
// request bodies are answered 400 and 413 and leave the breaker, outlier
// detection and the endpoint's latency estimate untouched. Before the fix a
// malformed chunked upload was a 502 upstream_reset and opened the breaker.
func TestClientFaultsNeverCountAgainstTheUpstream(t *testing.T) {
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	e := startProxy(t, yamlf(`
limits: {max_body_bytes: 100000}
upstreams:
	u:
		endpoints: [{address: %s}]
		circuit_breaker: {failure_rate: 0.5, window: 10s, minimum_requests: 5, open_duration: 30s}
		outlier_detection: {consecutive_failures: 3}
routes:
	- name: all
		upstream: u
`, b.URL))
	malformed := "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n"
	big := "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", 10000, strings.Repeat("a", 10000)), 12) + "0\r\n\r\n"
	for i := range 30 {
		resp, _ := e.rawExchange(malformed)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("malformed chunked upload %d: status %d (%s); want 400", i, resp.StatusCode, resp.Header.Get(HeaderReason))
		}
		resp, _ = e.rawExchange(big)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized upload %d: status %d (%s); want 413", i, resp.StatusCode, resp.Header.Get(HeaderReason))
		}
	}
	st := e.p.Status()
	for _, us := range st.Upstreams {
		if us.Breaker == nil || us.Breaker.State != breaker.Closed || us.Breaker.Failures != 0 {
			t.Errorf("breaker %+v; want closed with no failures", us.Breaker)
		}
		for _, ep := range us.Endpoints {
			if ep.Ejected {
				t.Errorf("endpoint %s ejected by client faults", ep.Address)
			}
		}
	}
	mustOK(t, e.send(e.h1, "POST", "/up", "fine"))
}

// TestEarlyAnswerReachesTheClient: an upstream that answers 413 before it
// has read a large upload gives the client that 413, not 502.
func TestEarlyAnswerReachesTheClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
				br.ReadByte() // reads no more of the body
			}()
		}
	}()
	e := startProxy(t, yamlf(`
limits: {max_body_bytes: -1}
upstreams:
	u:
		endpoints: [{address: http://%s}]
routes:
	- name: all
		upstream: u
`, ln.Addr()))
	body := strings.NewReader(strings.Repeat("x", 32<<20))
	req, _ := http.NewRequest("POST", e.url+"/upload", body)
	resp, err := e.h1.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(got) != "nope" {
		t.Fatalf("got %d %q; want the upstream's 413 \"nope\"", resp.StatusCode, got)
	}
}

// TestRouteTimeoutBoundsTheRelay: a client that stops reading a large
// response cannot hold the upstream connection past the route timeout.
func TestRouteTimeoutBoundsTheRelay(t *testing.T) {
	closed := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
		chunk := make([]byte, 64<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				close(closed) // holdfast let go of the upstream
				return
			}
		}
	}()
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: http://%s}]
routes:
	- name: all
		upstream: u
		timeout: 500ms
`, ln.Addr()))
	c := e.rawConn()
	defer c.Close()
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	// The client reads nothing more.
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("the upstream connection was still held long after the route timeout")
	}
}

// TestStreamIdleTimeout: a long-lived route's stream outlives the route
// timeout while bytes move, and ends once it sits idle.
func TestStreamIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 6 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond) // slower than nothing, faster than the idle timeout
		}
		<-release // then silence
	})
	e := startProxy(t, yamlf(`
limits: {stream_idle_timeout: 1s}
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: events
		upstream: u
		timeout: 200ms
		long_lived: true
`, b.URL))
	c := e.rawConn()
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("stream ended cleanly; want it cut (broken) after the idle timeout")
	}
	if !strings.Contains(string(got), "data: 5") {
		t.Errorf("got %q; want all six events, past the 200ms route timeout", got)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("idle stream lasted %v; want it ended about 1s after the last byte", took)
	}
}

// wsBackend answers upgrades with 101 and echoes lines until the client
// closes.
func wsBackend(t *testing.T) *handlerBackend {
	return startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			io.WriteString(w, "plain")
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(line)
			brw.Flush()
		}
	})
}

const wsRequest = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// openSession upgrades a fresh connection and returns it with its reader.
func (e *env) openSession() (net.Conn, *bufio.Reader, *http.Response) {
	e.t.Helper()
	c := e.rawConn()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, wsRequest)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, br, resp
}

// TestUpgradesPassTheConcurrencyLimit: an open session holds its slot, so a
// second one past the limit is refused, and a slot comes back when a
// session ends. Before the fix upgrades bypassed the limit.
func TestUpgradesPassTheConcurrencyLimit(t *testing.T) {
	b := wsBackend(t)
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
		concurrency: {limit: 1, queue: 0}
routes:
	- name: all
		upstream: u
`, b.URL))
	c1, br1, resp := e.openSession()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("first upgrade: %d; want 101", resp.StatusCode)
	}
	io.WriteString(c1, "ping\n")
	if line, _ := br1.ReadString('\n'); line != "ping\n" {
		t.Fatalf("echo %q; want ping", line)
	}
	c2, _, resp := e.openSession()
	c2.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(HeaderReason) != ReasonOverloaded {
		t.Fatalf("second upgrade while the first is open: %d %s; want 503 overloaded", resp.StatusCode, resp.Header.Get(HeaderReason))
	}
	c1.Close()
	waitFor(t, "the session's slot to come back", func() bool {
		c3, _, resp := e.openSession()
		c3.Close()
		return resp.StatusCode == http.StatusSwitchingProtocols
	})
}

// TestSessionLengthIsNoLatency: WebSocket sessions longer than the outlier
// deadline do not eject a healthy endpoint. Before the fix two 300 ms
// sessions ejected it on a 100 ms deadline.
func TestSessionLengthIsNoLatency(t *testing.T) {
	b := wsBackend(t)
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
		outlier_detection: {deadline: 100ms, consecutive_deadline_misses: 2, consecutive_failures: 2, max_ejection_percent: 100}
routes:
	- name: all
		upstream: u
`, b.URL))
	for range 3 {
		c, br, resp := e.openSession()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %d; want 101", resp.StatusCode)
		}
		io.WriteString(c, "hold\n")
		br.ReadString('\n')
		time.Sleep(300 * time.Millisecond) // a session longer than the deadline
		c.Close()
	}
	waitFor(t, "the sessions to end", func() bool { return e.upstream("u").Endpoints()[0].InFlight() == 0 })
	if ep := e.upstream("u").Endpoints()[0]; ep.Ejected() {
		t.Fatalf("endpoint ejected after long sessions; EWMA %v", ep.EWMA())
	}
	if r := e.get("/plain"); r.status != 200 {
		t.Fatalf("plain request after sessions: %d", r.status)
	}
}

// TestBodyFramingErrorClosesTheConnection: after a request whose chunked
// body is malformed (here a chunk size that overflows), nothing more is read
// from the connection, so bytes after it never become a request.
func TestBodyFramingErrorClosesTheConnection(t *testing.T) {
	seen := make(chan string, 10)
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.Path
		io.Copy(io.Discard, r.Body)
	})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, b.URL))
	for _, bad := range []string{
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nx\r\n0\r\n\r\n",
		"PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
	} {
		c := e.rawConn()
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, bad+"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("malformed body: %d; want 400", resp.StatusCode)
		}
		if resp2, err := http.ReadResponse(br, nil); err == nil {
			t.Errorf("a second response (%d) came on the connection after a framing error; want it closed", resp2.StatusCode)
		}
		c.Close()
	}
	close(seen)
	for p := range seen {
		if p == "/smuggled" {
			t.Errorf("the bytes after a malformed body reached the backend as a request")
		}
	}
}

// TestOnlyDeclaredRequestTrailersPass: of a chunked upload's trailers only
// those its head declared, and never framing or routing fields, reach the
// upstream, whether the body is buffered for replay (PUT) or streamed
// (POST). Before, a buffered body's trailers were taken once the body had
// been read, when net/http had added the undeclared ones.
func TestOnlyDeclaredRequestTrailersPass(t *testing.T) {
	got := make(chan http.Header, 4)
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer.Clone()
	})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
routes:
	- name: all
		upstream: u
`, b.URL))
	for _, method := range []string{"PUT", "POST"} {
		resp, _ := e.rawExchange(method + " /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, Host\r\n\r\n" +
			"5\r\nhello\r\n0\r\nX-Checksum: abc123\r\nX-Undeclared: sneaky\r\nHost: evil.example\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", method, resp.StatusCode)
		}
		tr := <-got
		if tr.Get("X-Checksum") != "abc123" {
			t.Errorf("%s: declared trailer X-Checksum = %q; want abc123", method, tr.Get("X-Checksum"))
		}
		if _, ok := tr["X-Undeclared"]; ok {
			t.Errorf("%s: an undeclared trailer reached the upstream: %v", method, tr)
		}
		if _, ok := tr["Host"]; ok {
			t.Errorf("%s: a Host trailer reached the upstream: %v", method, tr)
		}
	}
}
