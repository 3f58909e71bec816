package adaptive

import (
	"math"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	ms := time.Millisecond
	p := func(alg Algorithm) params {
		return params{alg: alg, min: 1, max: 1000, tolerance: 0.25, backoff: 0.9}
	}
	busy := func(rtt time.Duration) window { return window{samples: 10, rtt: rtt, utilised: true} }
	tests := []struct {
		name   string
		p      params
		limit  float64
		noload time.Duration
		w      window
		want   float64
	}{
		// gradient: g = clamp(noload×1.25/rtt, 0.5, 2); limit' = g·limit + √(g·limit)
		{"gradient healthy grows", p(Gradient), 20, 10 * ms, busy(10 * ms), 25 + 5},
		{"gradient slow shrinks", p(Gradient), 40, 10 * ms, busy(20 * ms), 25 + 5},
		{"gradient at tolerance keeps headroom", p(Gradient), 16, 10 * ms, busy(12500 * time.Microsecond), 16 + 4},
		{"gradient at most halves", p(Gradient), 100, 10 * ms, busy(time.Second), 50 + math.Sqrt(50)},
		{"gradient at most doubles", p(Gradient), 10, 10 * ms, busy(ms), 20 + math.Sqrt(20)},
		{"gradient capped at max", p(Gradient), 900, 10 * ms, busy(ms), 1000},
		{"gradient floored at min", params{alg: Gradient, min: 40, max: 1000, tolerance: 0.25}, 50, 10 * ms, busy(time.Second), 40},
		{"gradient idle does not grow", p(Gradient), 20, 10 * ms, window{samples: 10, rtt: 10 * ms}, 20},
		{"gradient idle still shrinks", p(Gradient), 40, 10 * ms, window{samples: 10, rtt: 20 * ms}, 30},

		// vegas at limit 100: step log10(100) = 2, α = 6, β = 12;
		// queue = 100 × (1 − noload/rtt)
		{"vegas no queue grows by beta", p(Vegas), 100, 100 * ms, busy(100 * ms), 112},
		{"vegas faster than noload grows by beta", p(Vegas), 100, 100 * ms, busy(90 * ms), 112},
		{"vegas queue under alpha grows by step", p(Vegas), 100, 96 * ms, busy(100 * ms), 102},
		{"vegas queue in band holds", p(Vegas), 100, 90 * ms, busy(100 * ms), 100},
		{"vegas queue just over beta sheds a step", p(Vegas), 100, 87 * ms, busy(100 * ms), 98},
		{"vegas long queue shed at once", p(Vegas), 100, 50 * ms, busy(100 * ms), 62},
		{"vegas small limit steps by one", p(Vegas), 5, 10 * ms, busy(10 * ms), 11},
		{"vegas idle does not grow", p(Vegas), 100, 100 * ms, window{samples: 10, rtt: 100 * ms}, 100},

		// aimd: +1 while rtt <= noload × 1.25, else × 0.9
		{"aimd healthy adds one", p(AIMD), 20, 10 * ms, busy(12 * ms), 21},
		{"aimd at tolerance adds one", p(AIMD), 20, 10 * ms, busy(12500 * time.Microsecond), 21},
		{"aimd slow backs off", p(AIMD), 20, 10 * ms, busy(13 * ms), 18},
		{"aimd idle does not grow", p(AIMD), 20, 10 * ms, window{samples: 10, rtt: 10 * ms}, 20},

		// Shared rules.
		{"drops back off whatever the latency", p(Gradient), 20, 10 * ms, window{samples: 9, rtt: ms, drops: 1, utilised: true}, 18},
		{"vegas drops back off", p(Vegas), 20, 10 * ms, window{drops: 3, utilised: true}, 18},
		{"aimd drops back off", p(AIMD), 20, 10 * ms, window{drops: 1}, 18},
		{"empty window holds", p(Gradient), 20, 10 * ms, window{utilised: true}, 20},
		{"unknown noload holds", p(Gradient), 20, 0, busy(10 * ms), 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.next(tt.limit, tt.noload, tt.w)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("next(%g, %v, %+v) = %g; want %g", tt.limit, tt.noload, tt.w, got, tt.want)
			}
		})
	}
}

// TestNextStaysInBounds feeds next extreme and degenerate inputs and checks
// that the limit never leaves [min, max] or becomes NaN.
func TestNextStaysInBounds(t *testing.T) {
	durations := []time.Duration{0, 1, time.Microsecond, time.Second, math.MaxInt64}
	limits := []float64{1, 2, 7.5, 1000}
	for _, alg := range []Algorithm{Gradient, Vegas, AIMD} {
		p := params{alg: alg, min: 1, max: 1000, tolerance: 0.25, backoff: 0.5}
		for _, limit := range limits {
			for _, noload := range durations {
				for _, rtt := range durations {
					for _, drops := range []int{0, 1} {
						w := window{samples: 1, rtt: rtt, drops: drops, utilised: true}
						got := p.next(limit, noload, w)
						if math.IsNaN(got) || got < 1 || got > 1000 {
							t.Errorf("%s: next(%g, %v, %+v) = %g; want within [1, 1000]", alg, limit, noload, w, got)
						}
					}
				}
			}
		}
	}
}
