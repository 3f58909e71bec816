package admin

import (
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

var benchInfo = proxy.RequestInfo{Route: "catalog-read", Upstream: "catalog", Endpoint: "127.0.0.1:9001",
	Method: "GET", Status: 200, Attempts: 1, Duration: 3 * time.Millisecond}

// BenchmarkMetricsOnRequest is the cost the metrics add to every request.
func BenchmarkMetricsOnRequest(b *testing.B) {
	m := NewMetrics()
	b.ReportAllocs()
	for b.Loop() {
		m.OnRequest(benchInfo)
	}
}

func BenchmarkMetricsOnRequestParallel(b *testing.B) {
	m := NewMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.OnRequest(benchInfo)
		}
	})
}

func BenchmarkMetricsOnEvent(b *testing.B) {
	m := NewMetrics()
	e := holdfast.Event{Policy: "catalog", Kind: holdfast.EventQueued, Delay: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		m.OnEvent(e)
	}
}

// BenchmarkMetricsWatched is the cost per request, and per attempt, of the
// metrics of a watched proxy, whose series are resolved up front.
func BenchmarkMetricsWatched(b *testing.B) {
	cfg, err := config.Parse([]byte(`
upstreams:
  catalog: {endpoints: [{address: "http://127.0.0.1:9001"}]}
routes:
  - {name: catalog-read, upstream: catalog}
`))
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	m := NewMetrics()
	m.Watch(p)
	attempt := proxy.AttemptInfo{Route: "catalog-read", Upstream: "catalog", Endpoint: "127.0.0.1:9001",
		Attempt: 1, Outcome: proxy.AttemptResponse, Status: 200, Duration: 3 * time.Millisecond}
	b.Run("OnRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.OnRequest(benchInfo)
		}
	})
	b.Run("OnAttempt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.OnAttempt(attempt)
		}
	})
}
