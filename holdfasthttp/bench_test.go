package holdfasthttp_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

// answer is a RoundTripper that answers 200 without a network, so that
// the benchmarks below measure the Transport itself.
type answer struct{}

func (answer) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// BenchmarkTransport is the success path: a GET answered 200 at the first
// attempt, through no policies (the baseline) and through typical ones.
func BenchmarkTransport(b *testing.B) {
	pipelines := []struct {
		name     string
		policies func() []holdfast.Policy
	}{
		{"direct", nil},
		{"none", func() []holdfast.Policy { return nil }},
		{"retry+breaker", func() []holdfast.Policy {
			return []holdfast.Policy{retry.MustNew(retry.Config{}), breaker.MustNew(breaker.Config{})}
		}},
		{"retry+breaker+timeout", func() []holdfast.Policy {
			return []holdfast.Policy{retry.MustNew(retry.Config{}), breaker.MustNew(breaker.Config{}),
				timeout.MustNew(timeout.Config{Timeout: time.Minute})}
		}},
	}
	for _, p := range pipelines {
		b.Run(p.name, func(b *testing.B) {
			var rt http.RoundTripper = answer{}
			if p.policies != nil {
				rt = holdfasthttp.MustNewRoundTripper(answer{}, p.policies()...)
			}
			req, _ := http.NewRequest("GET", "http://backend/items", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkTransportLoopback is the success path against a real server on
// loopback, where the network dominates.
func BenchmarkTransportLoopback(b *testing.B) {
	srv := startServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	for _, wrapped := range []bool{false, true} {
		name := "direct"
		if wrapped {
			name = "retry+breaker"
		}
		b.Run(name, func(b *testing.B) {
			rt := srv.Client().Transport
			if wrapped {
				rt = holdfasthttp.MustNewRoundTripper(rt, retry.MustNew(retry.Config{}), breaker.MustNew(breaker.Config{}))
			}
			req, _ := http.NewRequest("GET", srv.URL, nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHandler is the success path of the middleware: a request
// admitted by every policy.
func BenchmarkHandler(b *testing.B) {
	pipelines := []struct {
		name     string
		policies func() []holdfast.Policy
	}{
		{"direct", nil},
		{"ratelimit+bulkhead", func() []holdfast.Policy {
			return []holdfast.Policy{
				ratelimit.MustNewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{RequestsPerSecond: 1e9}}),
				bulkhead.MustNew(bulkhead.Config{}),
			}
		}},
		{"ratelimit+bulkhead+timeout", func() []holdfast.Policy {
			return []holdfast.Policy{
				ratelimit.MustNewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{RequestsPerSecond: 1e9}}),
				bulkhead.MustNew(bulkhead.Config{}),
				timeout.MustNew(timeout.Config{Timeout: time.Minute}),
			}
		}},
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, p := range pipelines {
		b.Run(p.name, func(b *testing.B) {
			var h http.Handler = next
			if p.policies != nil {
				mw, err := holdfasthttp.Middleware(next, p.policies()...)
				if err != nil {
					b.Fatal(err)
				}
				h = mw
			}
			req, _ := http.NewRequest("GET", "http://svc/", nil)
			req.RemoteAddr = "192.0.2.1:1234"
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

func BenchmarkParseRetryAfter(b *testing.B) {
	for _, v := range []string{"120", "Sun, 01 Mar 2026 12:02:00 GMT", strings.Repeat("9", 30)} {
		b.Run(v[:min(len(v), 8)], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				holdfasthttp.ParseRetryAfter(v, now)
			}
		})
	}
}
