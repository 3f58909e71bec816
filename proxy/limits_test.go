package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// TestLimitDefaults checks that a config without a limits block serves with
// the documented defaults.
func TestLimitDefaults(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
routes:
	- name: all
		upstream: u
`, eps(b)))
	lim := e.srv.h1.limits
	if lim.maxHeaderBytes != config.DefaultMaxHeaderBytes {
		t.Errorf("max_header_bytes = %d; want %d", lim.maxHeaderBytes, config.DefaultMaxHeaderBytes)
	}
	if lim.readHeaderTimeout != config.DefaultReadHeaderTimeout {
		t.Errorf("read_header_timeout = %v; want %v", lim.readHeaderTimeout, config.DefaultReadHeaderTimeout)
	}
	if lim.readTimeout != config.DefaultReadTimeout {
		t.Errorf("read_timeout = %v; want %v", lim.readTimeout, config.DefaultReadTimeout)
	}
	if lim.idleTimeout != config.DefaultIdleTimeout {
		t.Errorf("idle_timeout = %v; want %v", lim.idleTimeout, config.DefaultIdleTimeout)
	}
	if got := e.p.Config().Limits.MaxBodyBytes; got != config.DefaultMaxBodyBytes {
		t.Errorf("max_body_bytes = %d; want %d", got, config.DefaultMaxBodyBytes)
	}

	// The default header limit lets a 32 KiB header through and refuses
	// one far past 64 KiB.
	r := e.get("/", "X-Big", strings.Repeat("a", 32<<10))
	mustOK(t, r)
	r = e.get("/", "X-Big", strings.Repeat("a", 80<<10))
	if r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("80 KiB header: status %d (err %v); want 431", r.status, r.err)
	}
	// The default body limit takes 1 MiB.
	r = e.send(e.h1, "POST", "/", strings.Repeat("b", 1<<20))
	mustOK(t, r)
}

// TestHeaderLimit checks limits.max_header_bytes: headers past it get 431
// and never reach the backend.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
limits: {max_header_bytes: 2048}
upstreams:
	u:
		endpoints: %s
routes:
	- name: all
		upstream: u
`, eps(b)))
	mustOK(t, e.get("/", "X-Small", strings.Repeat("a", 1000)))
	// net/http allows 4 KiB of slack over MaxHeaderBytes; go well past it.
	r := e.get("/", "X-Big", strings.Repeat("a", 16<<10))
	if r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d (err %v); want 431", r.status, r.err)
	}
	if got := b.Requests(); got != 1 {
		t.Errorf("backend got %d requests; want only the small one", got)
	}
}

// TestBodyLimit checks limits.max_body_bytes: a body past it gets a 413
// local reply, whether its length is declared or it is chunked, kept for
// replay or streamed.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
limits: {max_body_bytes: 1000}
upstreams:
	u:
		endpoints: %s
routes:
	- name: all
		upstream: u
`, eps(b)))
	tests := []struct {
		method  string
		size    int
		chunked bool
		want    int
	}{
		{"POST", 1000, false, 200},
		{"POST", 1000, true, 200},
		{"PUT", 1000, true, 200},
		{"POST", 1001, false, 413},
		{"PUT", 5000, false, 413},
		{"POST", 5000, true, 413}, // streamed: caught on the way
		{"PUT", 5000, true, 413},  // kept for replay: caught while reading
		{"POST", 200 << 10, true, 413},
	}
	for _, tt := range tests {
		for _, c := range e.clients() {
			var rd io.Reader = bytes.NewReader(bytes.Repeat([]byte("z"), tt.size))
			if tt.chunked {
				rd = io.MultiReader(rd)
			}
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, e.url+"/up", rd)
			r := do(c.c, req)
			name := fmt.Sprintf("%s %s %d chunked=%v", c.name, tt.method, tt.size, tt.chunked)
			if tt.want == 200 {
				if r.err != nil || r.status != 200 {
					t.Errorf("%s: %d %q (%v); want 200", name, r.status, r.body, r.err)
				}
				continue
			}
			if r.err != nil {
				// The proxy may answer before the client has sent its whole
				// body; the client then sees its upload cut short. That is
				// only acceptable over HTTP/1.1 for a body the client could
				// not finish sending.
				t.Errorf("%s: %v; want a 413", name, r.err)
				continue
			}
			checkLocal(t, r, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
		}
	}
}

// TestReadHeaderTimeout checks limits.read_header_timeout: a client that
// sends half a request head and stops is disconnected.
func TestReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
limits: {read_header_timeout: 200ms}
upstreams:
	u:
		endpoints: %s
routes:
	- name: all
		upstream: u
`, eps(b)))
	conn := e.rawConn()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
	err := readUntilClosed(conn)
	if err != nil {
		t.Errorf("connection not closed by the proxy: %v", err)
	}
	if got := b.Requests(); got != 0 {
		t.Errorf("backend got %d requests; want 0", got)
	}
}

// TestReadTimeout checks limits.read_timeout: a client that stalls in the
// middle of its body gets no answer from the backend; the proxy gives up on
// it and closes the connection.
func TestReadTimeout(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
limits: {read_timeout: 300ms}
upstreams:
	u:
		endpoints: %s
routes:
	- name: all
		upstream: u
`, eps(b)))
	for _, method := range []string{"PUT", "POST"} {
		conn := e.rawConn()
		fmt.Fprintf(conn, "%s /slow-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b", method)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			// An answer is fine as long as it is not a success: the body
			// never arrived whole.
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("%s: status %d; want an error answer or a closed connection", method, resp.StatusCode)
			}
			if err := readUntilClosed(conn); err != nil {
				t.Errorf("%s: connection not closed after the answer: %v", method, err)
			}
		} else if isTimeout(err) {
			t.Errorf("%s: the proxy neither answered nor closed the connection", method)
		}
	}
	if got := b.RequestsByMethod("PUT"); got != 0 {
		t.Errorf("backend got %d PUTs; want 0: a PUT body is read whole before it is sent", got)
	}
}

// TestIdleTimeout checks limits.idle_timeout: a keep-alive connection left
// idle is closed by the proxy.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
limits: {idle_timeout: 200ms}
upstreams:
	u:
		endpoints: %s
routes:
	- name: all
		upstream: u
`, eps(b)))
	conn := e.rawConn()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d close=%v; want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	if err := readUntilClosed(br); err != nil {
		t.Errorf("idle connection not closed: %v", err)
	}
}

// readUntilClosed reads until the peer closes; it returns nil for a close
// (EOF or reset) and the error when the read timed out instead.
func readUntilClosed(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	if err == nil || !isTimeout(err) {
		return nil
	}
	return err
}
