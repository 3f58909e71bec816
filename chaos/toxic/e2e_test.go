package toxic

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests on real loopback sockets. Time here is real, so bounds
// are generous: the lower bound proves the toxic acted, the upper one only
// catches a hang.
const e2eSlack = 3 * time.Second

// echoUpstream echoes each connection and closes its side after the
// client's end; accepted counts connections.
func echoUpstream(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String(), &accepted
}

func e2eProxy(t *testing.T, protocol, upstreamAddr string) (*Server, ProxySpec) {
	t.Helper()
	s := newTestServer(t, Config{})
	p, err := s.CreateProxy(ProxySpec{Name: "e2e", Upstream: upstreamAddr, Protocol: protocol, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// openConn returns the one open connection of proxy name.
func openConn(t *testing.T, s *Server, name string) *conn {
	t.Helper()
	s.mu.Lock()
	p := s.proxies[name]
	s.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns) != 1 {
		t.Fatalf("proxy %s has %d open connections; want 1", name, len(p.conns))
	}
	for c := range p.conns {
		return c
	}
	return nil
}

func e2eDial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, e2eSlack)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * e2eSlack))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestE2EHalfCloseAndLatency(t *testing.T) {
	up, _ := echoUpstream(t)
	s, p := e2eProxy(t, protoTCP, up)
	c := e2eDial(t, p.Listen)
	c.Write([]byte("one"))
	io.ReadFull(c, make([]byte, 3))
	// A toxic added now applies to this open connection.
	s.AddToxic("e2e", ToxicSpec{Type: "latency", Toxicity: 1, Attributes: []byte(`{"latency":200}`)})
	start := time.Now()
	c.Write([]byte("two"))
	c.CloseWrite() // half-close passes through: the echo server answers, then ends
	got, err := io.ReadAll(c)
	if d := time.Since(start); string(got) != "two" || err != nil || d < 200*time.Millisecond || d > e2eSlack {
		t.Fatalf("got %q, %v after %v; want \"two\" after 200ms, then a clean end", got, err, d)
	}
}

func TestE2EResetPeer(t *testing.T) {
	up, _ := echoUpstream(t)
	s, p := e2eProxy(t, protoTCP, up)
	s.AddToxic("e2e", ToxicSpec{Type: "reset_peer", Toxicity: 1})
	c := e2eDial(t, p.Listen)
	c.Write([]byte("x"))
	if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read err = %v; want connection reset by peer", err)
	}
}

func TestE2EBlackholeNeverDialsUpstream(t *testing.T) {
	up, accepted := echoUpstream(t)
	s, p := e2eProxy(t, protoTCP, up)
	s.AddToxic("e2e", ToxicSpec{Type: "blackhole", Toxicity: 1})
	c := e2eDial(t, p.Listen)
	c.Write([]byte("hello?"))
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); n != 0 || !errors.Is(err, errDeadline) {
		t.Fatalf("read = %d, %v; want nothing before the deadline", n, err)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("upstream saw %d connections; want none", n)
	}
}

func TestE2EHTTPProxy(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hi")
	})}
	bl, _ := net.Listen("tcp", "127.0.0.1:0")
	go backend.Serve(bl)
	t.Cleanup(func() { backend.Close() })
	s, p := e2eProxy(t, protoHTTP, "http://"+bl.Addr().String())
	get := func() int {
		resp, err := http.Get("http://" + p.Listen + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if c := get(); c != 200 {
		t.Fatalf("through the http proxy: %d; want 200", c)
	}
	s.AddToxic("e2e", ToxicSpec{Type: "http_status", Toxicity: 1, Attributes: []byte(`{"status":429}`)})
	if c := get(); c != 429 {
		t.Fatalf("with http_status 429: %d", c)
	}
	// Disabling the proxy stops it; enabling brings it back.
	if _, err := s.UpdateProxy(ProxySpec{Name: "e2e", Listen: p.Listen, Upstream: p.Upstream, Protocol: protoHTTP}); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + p.Listen + "/"); err == nil {
		t.Fatalf("a disabled http proxy answered")
	}
	if _, err := s.UpdateProxy(ProxySpec{Name: "e2e", Listen: p.Listen, Upstream: p.Upstream, Protocol: protoHTTP, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if c := get(); c != 429 {
		t.Fatalf("after re-enabling: %d; want the toxic still there", c)
	}
}

func TestE2ECloseEndsEverything(t *testing.T) {
	up, _ := echoUpstream(t)
	s, p := e2eProxy(t, protoTCP, up)
	s.AddToxic("e2e", ToxicSpec{Type: "latency", Toxicity: 1, Attributes: []byte(`{"latency":60000}`)})
	c := e2eDial(t, p.Listen)
	c.Write([]byte(strings.Repeat("z", 1000)))
	done := make(chan struct{})
	go func() {
		s.Close() // must not wait for the minute of latency
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(e2eSlack):
		t.Fatalf("Close hung with a connection inside a 60s latency")
	}
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read after Close: %v", err)
	}
}

// nonstopUpstream writes to each connection until it fails.
func nonstopUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 64<<10)
				for {
					if _, err := c.Write(b); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestE2EToxicAppliesToANonstopStream: a connection whose data never
// pauses still switches to toxics added while it flows.
func TestE2EToxicAppliesToANonstopStream(t *testing.T) {
	s, p := e2eProxy(t, protoTCP, nonstopUpstream(t))
	c := e2eDial(t, p.Listen)
	if _, err := io.ReadFull(c, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddToxic("e2e", ToxicSpec{Type: "limit_data", Toxicity: 1, Attributes: []byte(`{"bytes":1000}`)}); err != nil {
		t.Fatal(err)
	}
	// What was in flight, then at most 1000 bytes more, then the end.
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("reading to the end after limit_data: %v; want a clean end", err)
	}
}

// TestE2ECloseDuringANonstopUpload: closing the server does not wait for
// a client that never stops sending.
func TestE2ECloseDuringANonstopUpload(t *testing.T) {
	up, _ := drainThenReply(t, 0)
	s, p := e2eProxy(t, protoTCP, up)
	c := e2eDial(t, p.Listen)
	go func() {
		b := make([]byte, 64<<10)
		for {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	}()
	c.Write([]byte("x")) // the proxy is carrying the upload
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(e2eSlack):
		t.Fatalf("Close hung on a connection whose client never stops sending")
	}
}

// TestE2ESlowUpstreamGetsEveryByte sends more than the sockets between the
// proxy and an upstream that reads slowly hold, so that the proxy's writes
// stop short and wait, and checks that every byte arrives in order and is
// counted.
func TestE2ESlowUpstreamGetsEveryByte(t *testing.T) {
	const size = 8 << 20
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7 / 5)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	first, got := make(chan struct{}), make(chan []byte, 1)
	go func() {
		defer close(got)
		uc, err := ln.Accept()
		if err != nil {
			return
		}
		defer uc.Close()
		b := make([]byte, 1, size)
		if _, err := io.ReadFull(uc, b); err != nil {
			return
		}
		close(first)               // the proxy carries the connection
		chunk := make([]byte, 256) // small reads: the upstream lags
		for {
			n, err := uc.Read(chunk)
			b = append(b, chunk[:n]...)
			if err != nil {
				break
			}
		}
		got <- b
	}()
	s, p := e2eProxy(t, protoTCP, ln.Addr().String())
	c := e2eDial(t, p.Listen)
	c.Write(want[:1])
	<-first
	if _, err := c.Write(want[1:]); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	b := <-got
	if len(b) != size {
		t.Fatalf("upstream got %d bytes; want %d", len(b), size)
	}
	for i := range b {
		if b[i] != want[i] {
			t.Fatalf("upstream got byte %d = %d; want %d", i, b[i], want[i])
		}
	}
	api := httptest.NewServer(s)
	t.Cleanup(api.Close)
	n := strconv.FormatFloat(size, 'g', -1, 64) // as the text format writes it
	checkSeries(t, api.URL, map[string]string{
		`holdfast_chaos_proxy_received_bytes_total{direction="upstream",proxy="e2e"}`: n,
		`holdfast_chaos_proxy_sent_bytes_total{direction="upstream",proxy="e2e"}`:     n,
	})
}
