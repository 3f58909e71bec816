package admin

import (
	"math"
	"testing"
	"time"

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
