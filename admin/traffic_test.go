package admin

import (
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var t0 = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

func TestTrafficWindow(t *testing.T) {
	type req struct {
		at     time.Duration // after t0
		route  string
		status int
		took   time.Duration
	}
	tests := []struct {
		name string
		reqs []req
		at   time.Duration
		want map[string]Traffic
	}{
		{
			name: "nothing yet",
			at:   0,
			want: map[string]Traffic{},
		},
		{
			name: "successes and failures",
			reqs: []req{
				{0, "a", 200, 10 * time.Millisecond},
				{0, "a", 404, 10 * time.Millisecond}, // a client error is a success of the proxy
				{time.Second, "a", 503, 10 * time.Millisecond},
				{time.Second, "a", 0, 10 * time.Millisecond}, // no status: a failure
				{time.Second, "b", 200, time.Millisecond},
			},
			at: 2 * time.Second,
			want: map[string]Traffic{
				"a": {Requests: 4, RPS: 0.4, SuccessRate: 0.5, P50Seconds: 0.01, P99Seconds: 0.01},
				"b": {Requests: 1, RPS: 0.1, SuccessRate: 1, P50Seconds: 0.001, P99Seconds: 0.001},
			},
		},
		{
			name: "old seconds leave the window",
			reqs: []req{
				{0, "a", 500, time.Millisecond},
				{9 * time.Second, "a", 200, time.Millisecond},
			},
			at: 10 * time.Second,
			want: map[string]Traffic{
				"a": {Requests: 1, RPS: 0.1, SuccessRate: 1, P50Seconds: 0.001, P99Seconds: 0.001},
			},
		},
		{
			name: "a route gone quiet",
			reqs: []req{{0, "a", 200, time.Millisecond}},
			at:   time.Minute,
			want: map[string]Traffic{"a": {SuccessRate: 1}},
		},
		{
			name: "a slot reused a window later",
			reqs: []req{
				{0, "a", 500, time.Millisecond},
				{10 * time.Second, "a", 200, time.Millisecond}, // same slot, next lap
			},
			at: 10 * time.Second,
			want: map[string]Traffic{
				"a": {Requests: 1, RPS: 0.1, SuccessRate: 1, P50Seconds: 0.001, P99Seconds: 0.001},
			},
		},
		{
			name: "a request stamped a window back is dropped",
			reqs: []req{
				{10 * time.Second, "a", 200, time.Millisecond},
				{0, "a", 500, time.Millisecond}, // the same slot, a lap back: the wall clock stepped back
			},
			at: 10 * time.Second,
			want: map[string]Traffic{
				"a": {Requests: 1, RPS: 0.1, SuccessRate: 1, P50Seconds: 0.001, P99Seconds: 0.001},
			},
		},
		{
			name: "percentiles",
			reqs: func() []req {
				var rs []req
				for i := range 100 {
					took := time.Millisecond
					if i >= 98 {
						took = time.Second
					}
					rs = append(rs, req{0, "a", 200, took})
				}
				return rs
			}(),
			at: 0,
			want: map[string]Traffic{
				"a": {Requests: 100, RPS: 10, SuccessRate: 1, P50Seconds: 0.001, P99Seconds: 1},
			},
		},
	}
	// Percentiles are bin bounds: within one bin (20%) above the value.
	isPercentile := func(p cmp.Path) bool {
		s := p.Last().String()
		return s == ".P50Seconds" || s == ".P99Seconds"
	}
	approx := cmp.Options{
		cmp.FilterPath(func(p cmp.Path) bool { return !isPercentile(p) }, cmpopts.EquateApprox(0, 1e-9)),
		cmp.FilterPath(isPercentile, cmp.Comparer(func(a, b float64) bool {
			return (a == 0 && b == 0) || (a >= b && a <= b*latencyGrowth) || (b >= a && b <= a*latencyGrowth)
		})),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTrafficWindows()
			for _, r := range tt.reqs {
				w.record(r.route, r.status, r.took, t0.Add(r.at))
			}
			got := w.snapshot(t0.Add(tt.at))
			if diff := cmp.Diff(tt.want, got, approx); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLatencyBin(t *testing.T) {
	tests := []struct {
		seconds float64
		want    int
	}{
		{-1, 0}, {math.NaN(), 0}, {0, 0}, {latencyMin.Seconds(), 0},
		{latencyBounds[0] * 1.0001, 1}, {latencyBounds[1], 1}, {latencyBounds[1] * 1.0001, 2},
		{latencyBounds[40], 40}, {latencyBounds[latencyBins-2], latencyBins - 2},
		{latencyBounds[latencyBins-2] * 2, latencyBins - 1}, {math.Inf(1), latencyBins - 1},
	}
	for _, tt := range tests {
		if got := latencyBin(tt.seconds); got != tt.want {
			t.Errorf("latencyBin(%g): got %d; want %d", tt.seconds, got, tt.want)
		}
	}
	// Every bin holds what lies between its bounds.
	for i := 1; i < latencyBins-1; i++ {
		mid := (latencyBounds[i-1] + latencyBounds[i]) / 2
		if got := latencyBin(mid); got != i {
			t.Errorf("latencyBin(%g), between bounds %d and %d: got %d", mid, i-1, i, got)
		}
	}
	if top := latencyBounds[latencyBins-2]; top < 60 {
		t.Errorf("the last finite bound is %gs; want at least a minute, the longest sensible route timeout", top)
	}
}

// t0's bucket started at 15:04:00, 5 s before t0; the window's first
// bucket starts 89 buckets earlier.
var (
	t0Bucket    = t0.Add(-5 * time.Second)
	t0SeriesBeg = t0Bucket.Add(-time.Duration(seriesBuckets-1) * SeriesBucket)
)

// point is one bucket's expected figures.
type point struct {
	requests, failures int64
	rps, success       float64
	p50, p99           float64
}

// seriesOf returns route's series with points at the given bucket indexes,
// idle elsewhere.
func seriesOf(route string, points map[int]point) RouteSeries {
	rs := newSeries(route)
	for i, p := range points {
		rs.Requests[i], rs.Failures[i] = p.requests, p.failures
		rs.RPS[i], rs.SuccessRate[i] = p.rps, p.success
		rs.P50Seconds[i], rs.P99Seconds[i] = p.p50, p.p99
	}
	return rs
}

func TestTrafficSeries(t *testing.T) {
	type req struct {
		at     time.Duration // after t0
		route  string
		status int
		took   time.Duration
	}
	last := seriesBuckets - 1
	tests := []struct {
		name string
		reqs []req
		at   time.Duration
		want map[string]RouteSeries
	}{
		{
			name: "nothing yet",
			want: map[string]RouteSeries{},
		},
		{
			name: "a full bucket and the current one",
			reqs: []req{
				{-10 * time.Second, "a", 200, 10 * time.Millisecond},
				{-6 * time.Second, "a", 503, 10 * time.Millisecond},
				{-5 * time.Second, "a", 200, time.Millisecond}, // the current bucket's first second
				{0, "b", 0, time.Second},                       // no status: a failure
			},
			at: 0, // 5 s into the current bucket
			want: map[string]RouteSeries{
				"a": seriesOf("a", map[int]point{
					last - 1: {2, 1, 0.2, 0.5, 0.01, 0.01},
					last:     {1, 0, 0.2, 1, 0.001, 0.001},
				}),
				"b": seriesOf("b", map[int]point{last: {1, 1, 0.2, 0, 1, 1}}),
			},
		},
		{
			name: "the current bucket's rate is over at least a second",
			reqs: []req{{-5 * time.Second, "a", 200, time.Millisecond}, {-5 * time.Second, "a", 200, time.Millisecond}},
			at:   -5*time.Second + 200*time.Millisecond,
			want: map[string]RouteSeries{"a": seriesOf("a", map[int]point{last: {2, 0, 2, 1, 0.001, 0.001}})},
		},
		{
			name: "the window's edges",
			reqs: []req{
				{t0SeriesBeg.Sub(t0) - time.Second, "a", 500, time.Millisecond}, // a second before the window
				{t0SeriesBeg.Sub(t0), "a", 200, time.Millisecond},               // its first bucket
				{t0SeriesBeg.Sub(t0) + SeriesBucket - time.Nanosecond, "a", 200, time.Millisecond},
			},
			at:   0,
			want: map[string]RouteSeries{"a": seriesOf("a", map[int]point{0: {2, 0, 0.2, 1, 0.001, 0.001}})},
		},
		{
			name: "a request stamped after now is not shown yet",
			reqs: []req{{5 * time.Second, "a", 500, time.Millisecond}}, // the next bucket
			at:   0,
			want: map[string]RouteSeries{"a": newSeries("a")},
		},
		{
			name: "a bucket reused a window later",
			reqs: []req{
				{-SeriesWindow, "a", 500, time.Millisecond}, // same bucket, last lap
				{0, "a", 200, time.Millisecond},
				{-SeriesWindow, "a", 500, time.Millisecond}, // stamped a lap back: dropped
			},
			at:   0,
			want: map[string]RouteSeries{"a": seriesOf("a", map[int]point{last: {1, 0, 0.2, 1, 0.001, 0.001}})},
		},
		{
			name: "a bucket is in the window to its end",
			reqs: []req{{4 * time.Second, "a", 200, time.Millisecond}}, // 15:04:09
			at:   SeriesWindow - 5*time.Second - time.Nanosecond,       // 15:18:59.999999999
			want: map[string]RouteSeries{"a": seriesOf("a", map[int]point{0: {1, 0, 0.1, 1, 0.001, 0.001}})},
		},
		{
			name: "a quiet route is kept until a window has passed since its last request",
			reqs: []req{{4 * time.Second, "a", 200, time.Millisecond}},
			at:   SeriesWindow - 5*time.Second, // 15:19:00: the bucket left the window
			want: map[string]RouteSeries{"a": newSeries("a")},
		},
		{
			name: "then forgotten",
			reqs: []req{{4 * time.Second, "a", 200, time.Millisecond}},
			at:   SeriesWindow + 4*time.Second, // 15:19:09
			want: map[string]RouteSeries{},
		},
		{
			name: "percentiles per bucket",
			reqs: func() []req {
				var rs []req
				for i := range 100 {
					took := time.Millisecond
					if i >= 98 {
						took = time.Second
					}
					rs = append(rs, req{-10 * time.Second, "a", 200, took})
				}
				return append(rs, req{0, "a", 200, 50 * time.Millisecond})
			}(),
			at: 0,
			want: map[string]RouteSeries{"a": seriesOf("a", map[int]point{
				last - 1: {100, 0, 10, 1, 0.001, 1},
				last:     {1, 0, 0.2, 1, 0.05, 0.05},
			})},
		},
	}
	// Percentiles are bin bounds: within one bin (20%) above the value.
	isPercentile := func(p cmp.Path) bool {
		for _, s := range p {
			if f, ok := s.(cmp.StructField); ok && (f.Name() == "P50Seconds" || f.Name() == "P99Seconds") {
				return true
			}
		}
		return false
	}
	approx := cmp.Options{
		cmp.FilterPath(func(p cmp.Path) bool { return !isPercentile(p) }, cmpopts.EquateApprox(0, 1e-9)),
		cmp.FilterPath(isPercentile, cmp.Comparer(func(a, b float64) bool {
			return (a == 0 && b == 0) || (a >= b && a <= b*latencyGrowth) || (b >= a && b <= a*latencyGrowth)
		})),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTrafficWindows()
			for _, r := range tt.reqs {
				w.record(r.route, r.status, r.took, t0.Add(r.at))
			}
			got := w.series(t0.Add(tt.at))
			if diff := cmp.Diff(tt.want, got, approx); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
			// Traffic forgets what the series forget.
			if snap := w.snapshot(t0.Add(tt.at)); len(snap) != len(got) {
				t.Errorf("snapshot holds %d routes; series %d", len(snap), len(got))
			}
		})
	}
}

func TestSeriesStart(t *testing.T) {
	tests := []struct {
		now  time.Time
		want time.Time
	}{
		{t0, t0SeriesBeg},
		{t0Bucket, t0SeriesBeg},
		{t0Bucket.Add(-time.Nanosecond), t0SeriesBeg.Add(-SeriesBucket)},
		{t0Bucket.Add(SeriesBucket), t0SeriesBeg.Add(SeriesBucket)},
		{time.Unix(5, 0), time.Unix(-int64(seriesBuckets-1)*bucketSecs, 0)},
		{time.Unix(-5, 0), time.Unix(-int64(seriesBuckets)*bucketSecs, 0)},
	}
	for _, tt := range tests {
		if got := seriesStart(tt.now); !got.Equal(tt.want) {
			t.Errorf("seriesStart(%v): got %v; want %v", tt.now, got, tt.want)
		}
	}
}

func TestFloorDiv(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{0, 10, 0}, {9, 10, 0}, {10, 10, 1}, {-1, 10, -1}, {-10, 10, -1}, {-11, 10, -2},
	}
	for _, tt := range tests {
		if got := floorDiv(tt.a, tt.b); got != tt.want {
			t.Errorf("floorDiv(%d, %d): got %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestSeriesMemory keeps a route's history near the 30 KiB the docs state.
func TestSeriesMemory(t *testing.T) {
	if got := unsafe.Sizeof(routeTraffic{}); got > 40<<10 {
		t.Errorf("a route's traffic takes %d bytes; want at most 40 KiB", got)
	}
}
