package drill

import (
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
)

func TestWindowStats(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	ms := time.Millisecond
	w := &window{keep: 10 * time.Second}
	// One request finishing every 100ms for 20s: latency 1..200ms in turn,
	// every tenth failing, every 50th dropped.
	for i := 1; i <= 200; i++ {
		o := loadgen.Outcome{Done: t0.Add(time.Duration(i) * 100 * ms), Latency: time.Duration(i) * ms, Status: 200, Success: i%10 != 0}
		if i%50 == 0 {
			o = loadgen.Outcome{Done: o.Done, Dropped: true}
		}
		w.add(o)
	}
	tests := []struct {
		name string
		now  time.Time
		d    time.Duration
		want windowStats
	}{
		// (19s, 20s]: requests 191..200; 200 dropped, 200 and 200/10 fail.
		{"last second", t0.Add(20 * time.Second), time.Second,
			windowStats{requests: 10, succeeded: 9, answered: 9, p50: 195 * ms, p99: 199 * ms}},
		// (10s, 20s]: 101..200, failures at multiples of 10 (10 of them),
		// drops at 150 and 200 (both multiples of 10 too).
		{"last 10s", t0.Add(20 * time.Second), 10 * time.Second,
			windowStats{requests: 100, succeeded: 90, answered: 98, p50: 149 * ms, p99: 199 * ms}},
		{"excludes the future", t0.Add(10 * time.Second), time.Second,
			windowStats{requests: 10, succeeded: 9, answered: 9, p50: 95 * ms, p99: 99 * ms}},
		{"empty", t0.Add(time.Hour), time.Second, windowStats{}},
	}
	for _, tt := range tests {
		if got := w.stats(tt.now, tt.d); got != tt.want {
			t.Errorf("%s: got %+v; want %+v", tt.name, got, tt.want)
		}
	}
}

// TestWindowForgets checks that the window keeps a bounded history: what is
// older than keep (plus a second of slack) goes once it is more than half.
func TestWindowForgets(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	w := &window{keep: 10 * time.Second}
	for i := 1; i <= 600; i++ { // 60s at 10 per second
		w.add(loadgen.Outcome{Done: t0.Add(time.Duration(i) * 100 * time.Millisecond), Success: true, Latency: time.Millisecond})
		if n := len(w.outs); n > 2*111 {
			t.Fatalf("after %d outcomes the window holds %d; want at most %d", i, n, 2*111)
		}
	}
	now := t0.Add(60 * time.Second)
	if got := w.stats(now, 10*time.Second); got.requests != 100 {
		t.Errorf("last 10s after pruning: %d requests; want 100", got.requests)
	}
}

func TestQuantile(t *testing.T) {
	vals := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 5}, {0.9, 9}, {0.99, 10}, {1, 10}}
	for _, tt := range tests {
		if got := quantile(vals, tt.q); got != tt.want {
			t.Errorf("quantile(1..10, %g) = %d; want %d", tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %d; want 0", got)
	}
}
