package toxic

import (
	"io"
	"net"
	"testing"
)

// benchConn opens a connection through a proxy to a loopback echo server.
func benchConn(b *testing.B, toxics ...ToxicSpec) net.Conn {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	s := MustNewServer(Config{})
	b.Cleanup(func() { s.Close() })
	p, err := s.CreateProxy(ProxySpec{Name: "b", Upstream: ln.Addr().String(), Enabled: true, Toxics: toxics})
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Listen)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func benchRoundTrip(b *testing.B, c net.Conn) {
	msg := make([]byte, 512)
	got := make([]byte, len(msg))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripNoToxics measures a 512-byte echo through the fast path
// (one goroutine per direction, no channels).
func BenchmarkRoundTripNoToxics(b *testing.B) { benchRoundTrip(b, benchConn(b)) }

// BenchmarkRoundTripToxicChain measures the same through a chain holding a
// zero latency toxic in each direction.
func BenchmarkRoundTripToxicChain(b *testing.B) {
	benchRoundTrip(b, benchConn(b,
		ToxicSpec{Type: "latency", Stream: "upstream", Toxicity: 1},
		ToxicSpec{Type: "latency", Stream: "downstream", Toxicity: 1}))
}

// BenchmarkParseToxic measures validating one toxic body.
func BenchmarkParseToxic(b *testing.B) {
	body := []byte(`{"name":"lag","type":"latency","stream":"upstream","toxicity":0.5,"attributes":{"latency":100,"jitter":10}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseBody(body, protoTCP); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFastPathAllocatesNothing pins the fast path: with no toxics, relaying
// bytes allocates nothing, in either direction.
func TestFastPathAllocatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(c, c)
		}
	}()
	s := newTestServer(t, Config{})
	p, err := s.CreateProxy(ProxySpec{Name: "a", Upstream: ln.Addr().String(), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg, got := make([]byte, 512), make([]byte, 512)
	trip := func() {
		c.Write(msg)
		io.ReadFull(c, got)
	}
	trip() // warm up: the links allocate their buffers once
	if n := testing.AllocsPerRun(200, trip); n != 0 {
		t.Fatalf("round trip through the fast path: %v allocs; want 0", n)
	}
}
