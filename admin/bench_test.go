package admin

import (
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
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
