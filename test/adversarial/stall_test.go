//go:build !race

package adversarial

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// firstOf returns a function that records the first time it is called.
func firstOf(ch chan time.Time) func() {
	return func() {
		select {
		case ch <- time.Now():
		default:
		}
	}
}

// TestSlowReaderReleasesUpstream: a client that asks for 50 MB and stops
// reading must not hold the upstream connection past the route timeout.
func TestSlowReaderReleasesUpstream(t *testing.T) {
	t.Parallel()
	const size = 50 << 20
	closed := make(chan time.Time, 1)
	gone := firstOf(closed)
	backend := newRawBackend(t, func(c *backendConn) {
		if _, err := http.ReadRequest(c.r); err != nil {
			return
		}
		go func() {
			io.Copy(io.Discard, c.r) // returns when holdfast closes or resets
			gone()
		}()
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size); err != nil {
			gone()
			return
		}
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				gone()
				return
			}
		}
		<-c.quit
	})
	h := startHoldfast(t, minimal+"    timeout: 2s\n", map[string]string{"A": backend.URL()})

	c := dialRaw(t, h.addr)
	c.Conn.(*net.TCPConn).SetReadBuffer(4096)
	start := time.Now()
	c.send("GET /big HTTP/1.1\r\nHost: app\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(c.r, &http.Request{Method: http.MethodGet})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /big: %s %v; want 200", statusOf(resp), err)
	}
	// The client reads nothing more.
	select {
	case at := <-closed:
		if d := at.Sub(start); d > 6*time.Second {
			t.Errorf("holdfast closed the upstream connection %v after the request; want within 4s of the 2s route timeout", d.Round(time.Millisecond))
		}
	case <-time.After(8 * time.Second):
		t.Errorf("the upstream connection is still open 8s after the request, with a 2s route timeout and a client that stopped reading")
	}
}

const longLivedConfig = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
limits: {stream_idle_timeout: 1s}
upstreams:
  app:
    endpoints: [{address: {{.A}}}]
routes:
  - name: idle
    match: {path_prefix: /idle}
    upstream: app
    long_lived: true
    timeout: 10s
  - name: active
    match: {path_prefix: /active}
    upstream: app
    long_lived: true
    timeout: 1s
`

func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// TestLongLivedStreams: on a long_lived route a stream ends when it is idle
// for limits.stream_idle_timeout, not when the route timeout passes.
func TestLongLivedStreams(t *testing.T) {
	t.Parallel()
	backendGone := make(chan time.Time, 1)
	gone := firstOf(backendGone)
	backend := newRawBackend(t, func(c *backendConn) {
		req, err := http.ReadRequest(c.r)
		if err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		if strings.HasPrefix(req.URL.Path, "/idle") {
			io.WriteString(c, chunk("data: first\n\n"))
			io.Copy(io.Discard, c.r) // then silence, until holdfast hangs up
			gone()
			return
		}
		for i := range 10 {
			if _, err := io.WriteString(c, chunk(fmt.Sprintf("data: %d\n\n", i))); err != nil {
				return
			}
			if !c.sleep(250 * time.Millisecond) {
				return
			}
		}
		io.WriteString(c, "0\r\n\r\n")
		io.Copy(io.Discard, c.r)
	})
	h := startHoldfast(t, longLivedConfig, map[string]string{"A": backend.URL()})

	t.Run("idle_stream_ends", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, h.addr)
		c.send("GET /idle HTTP/1.1\r\nHost: app\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(c.r, &http.Request{Method: http.MethodGet})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /idle: %s %v; want 200", statusOf(resp), err)
		}
		var got []byte
		buf := make([]byte, 256)
		for !bytes.Contains(got, []byte("data: first\n\n")) {
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("reading the first event: %q, %v", got, err)
			}
		}
		last := time.Now()
		c.SetReadDeadline(last.Add(5 * time.Second))
		_, err = io.Copy(io.Discard, resp.Body)
		idle := time.Since(last)
		switch {
		case isTimeout(err):
			t.Fatalf("the stream is still open after %v of silence; want it ended after about 1s (limits.stream_idle_timeout)", idle.Round(time.Millisecond))
		case idle < 500*time.Millisecond:
			t.Errorf("the stream ended after %v of silence (%v); want about 1s", idle.Round(time.Millisecond), err)
		case idle > 4*time.Second:
			t.Errorf("the stream ended after %v of silence; want about 1s", idle.Round(time.Millisecond))
		}
		select {
		case <-backendGone:
		case <-time.After(3 * time.Second):
			t.Errorf("the upstream connection of the idle stream is still open 3s after the client's stream ended")
		}
	})

	t.Run("active_stream_outlives_route_timeout", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, h.addr)
		c.send("GET /active HTTP/1.1\r\nHost: app\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(6 * time.Second))
		resp, err := http.ReadResponse(c.r, &http.Request{Method: http.MethodGet})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /active: %s %v; want 200", statusOf(resp), err)
		}
		body, err := io.ReadAll(resp.Body)
		if n := bytes.Count(body, []byte("data: ")); err != nil || n != 10 {
			t.Errorf("a stream sending every 250ms for 2.5s on a long_lived route with timeout 1s: %d of 10 events, %v; want all 10 and a clean end", n, err)
		}
	})
}
