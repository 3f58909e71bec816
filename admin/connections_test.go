package admin

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsConnections: holdfast_listener_connections counts the data
// plane's client connections by state, as a user watching /metrics would
// see them: keep-alive connections idle after their request, then parked
// once idle for a second (on Linux), one fewer when a client leaves, and
// an h2c connection under http2; the accepted total counts each once.
func TestMetricsConnections(t *testing.T) {
	e := startEnv(t, envOptions{})
	addr := strings.TrimPrefix(e.data, "http://")
	var conns []net.Conn
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("GET /shop/x HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		conns = append(conns, c)
	}
	state := func(s string) float64 {
		v, _ := sample(families(t, e.metrics), "holdfast_listener_connections", l{"state": s})
		return v
	}
	// A connection is active until its goroutine has finished the
	// exchange, which may be just after the client read the answer.
	waitUntil(t, 10*time.Second, "no connection active between requests", func() bool { return state("active") == 0 })
	if got := state("idle") + state("parked"); got != 3 {
		t.Errorf("idle + parked = %v; want the 3 keep-alive connections", got)
	}
	waitUntil(t, 10*time.Second, "3 connections parked", func() bool { return state("parked") == 3 })
	conns[0].Close()
	waitUntil(t, 10*time.Second, "2 connections parked after a client left", func() bool { return state("parked") == 2 })

	var only http.Protocols
	only.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &only}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(e.data + "/shop/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("answered over %s; want HTTP/2", resp.Proto)
	}
	if got := state("http2"); got != 1 {
		t.Errorf("http2 = %v with one h2c connection open; want 1", got)
	}
	if v, _ := sample(families(t, e.metrics), "holdfast_listener_connections_accepted_total", nil); v != 4 {
		t.Errorf("accepted total = %v; want 4 (3 HTTP/1.1, 1 h2c)", v)
	}
	tr.CloseIdleConnections()
	waitUntil(t, 10*time.Second, "no http2 connection once the client closed it", func() bool { return state("http2") == 0 })
}

// waitUntil polls cond until it holds, failing the test after limit: for
// end-to-end waits on real time.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
	}
}
