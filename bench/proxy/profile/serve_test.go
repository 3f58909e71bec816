package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

// policiesYAML is the route of bench/proxy/run.sh: timeout, retry with a
// per-try timeout and budget, breaker, rate limit and outlier detection.
const policiesYAML = `
listen: 127.0.0.1:0
upstreams:
  backend:
    endpoints: [{address: BACKEND}]
    outlier_detection: {consecutive_failures: 5, deadline: 250ms, consecutive_deadline_misses: 3}
    circuit_breaker: {failure_rate: 0.5, window: 10s, minimum_requests: 20, open_duration: 30s}
routes:
  - name: bench
    upstream: backend
    timeout: 2s
    retry: {attempts: 3, per_try_timeout: 1s, budget: {ratio: 0.2, min_per_second: 10}}
    rate_limit: {requests_per_second: 10000000, burst: 1000000}
`

// defaultsYAML is a route with nothing set: the default timeout and retry.
const defaultsYAML = `
listen: 127.0.0.1:0
upstreams:
  backend:
    endpoints: [{address: BACKEND}]
    outlier_detection: {disabled: true}
routes:
  - name: bench
    upstream: backend
`

// BenchmarkServeHTTP drives proxy.Proxy.ServeHTTP directly against a
// loopback backend that allocates nothing per request, without the
// client-side server, so that its CPU and allocation profile is holdfast's
// data path alone:
//
//	cd bench/proxy/profile && go test -run '^$' -bench . -benchmem -cpuprofile cpu.prof
//
// Each iteration also makes the per-request cancelable context and the
// request copy that net/http's server makes (3 allocations).
func BenchmarkServeHTTP(b *testing.B) {
	body := `{"ok":true,"pad":"0123456789012345678901234567890123456789ab"}` + "\n"
	addr := cannedBackend(b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body)
	for _, bc := range []struct{ name, yaml string }{{"policies", policiesYAML}, {"defaults", defaultsYAML}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg, err := config.Parse([]byte(strings.ReplaceAll(bc.yaml, "BACKEND", "http://"+addr)))
			if err != nil {
				b.Fatal(err)
			}
			p, err := proxy.New(cfg, proxy.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			r := httptest.NewRequest(http.MethodGet, "http://bench.local/items?id=7", nil)
			r.Header.Set("User-Agent", "wrk")
			r.RemoteAddr = "127.0.0.1:40000"
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				clear(w.h)
				w.status, w.n = 0, 0
				p.ServeHTTP(w, r.WithContext(ctx))
				cancel()
				if w.status != http.StatusOK || w.n != len(body) {
					b.Fatalf("got status %d, %d body bytes; want 200, %d", w.status, w.n, len(body))
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status and length.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

// cannedBackend serves every request on every connection with resp, reading
// requests (without bodies) by their blank line; it allocates nothing per
// request, so the benchmark's allocations are the proxy's. It returns the
// listen address.
func cannedBackend(b *testing.B, resp string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	out := []byte(resp)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.Cleanup(func() { c.Close() })
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 { // the blank line ending the head
						if _, err := c.Write(out); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
