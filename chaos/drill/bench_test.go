package drill

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
)

// BenchmarkParseMetrics reads a page the size of a busy holdfast's: 40
// routes and upstreams with their counters and histograms, about 1,300
// lines.
func BenchmarkParseMetrics(b *testing.B) {
	var page strings.Builder
	for i := range 40 {
		fmt.Fprintf(&page, "# HELP holdfast_route_requests_total Requests.\n# TYPE holdfast_route_requests_total counter\n")
		for _, c := range []string{"2xx", "4xx", "5xx"} {
			fmt.Fprintf(&page, "holdfast_route_requests_total{code_class=%q,route=\"r%d\"} %d\n", c, i, i*1000)
		}
		for _, le := range []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"} {
			fmt.Fprintf(&page, "holdfast_route_request_duration_seconds_bucket{route=\"r%d\",le=%q} %d\n", i, le, i*10)
		}
		fmt.Fprintf(&page, "holdfast_route_request_duration_seconds_sum{route=\"r%d\"} 12.5\n", i)
		fmt.Fprintf(&page, "holdfast_route_request_duration_seconds_count{route=\"r%d\"} %d\n", i, i*10)
		for _, m := range []string{"usable_endpoints", "in_flight", "panic", "retry_budget_remaining"} {
			fmt.Fprintf(&page, "holdfast_upstream_%s{upstream=\"u%d\"} 3\n", m, i)
		}
	}
	data := []byte(page.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMetrics(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadProbe judges a 10s window of a 1,000 req/s load: what an
// abort condition does every second.
func BenchmarkLoadProbe(b *testing.B) {
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	w := &window{keep: 10 * time.Second}
	for i := range 10000 {
		w.add(loadgen.Outcome{Done: t0.Add(time.Duration(i) * time.Millisecond), Latency: time.Duration(i%100) * time.Millisecond, Success: i%50 != 0})
	}
	p := &LoadProbe{Window: 10 * time.Second, MinRequests: 1, ErrorRate: &Range{Max: f64(0.1)}, P99: &DurationRange{Max: time.Second}}
	now := t0.Add(10 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if v := judgeLoad(p, w.stats(now, p.Window)); !v.met {
			b.Fatal(v.detail)
		}
	}
}
