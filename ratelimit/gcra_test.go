package ratelimit

import (
	"math"
	"testing"
	"time"
)

func TestNewGCRAInterval(t *testing.T) {
	tests := []struct {
		rate         float64
		burst        int
		wantInterval int64
	}{
		{1, 1, 1e9},
		{100, 200, 1e7},
		{3, 1, 333333334}, // rounded up: the effective rate is just under 3/s
		{0.5, 1, 2e9},
		{0.1, 1, 1e10},
		{1e9, 5, 1},
		{7e8, 5, 2}, // 1.43ns rounds up to 2: 5e8/s, the coarsest case
		{1e6 / 7, 1, 7000},
	}
	for _, tt := range tests {
		g := newGCRA(tt.rate, tt.burst)
		if g.interval != tt.wantInterval {
			t.Errorf("newGCRA(%g, %d).interval = %d; want %d", tt.rate, tt.burst, g.interval, tt.wantInterval)
		}
		if want := int64(tt.burst) * tt.wantInterval; g.window != want {
			t.Errorf("newGCRA(%g, %d).window = %d; want %d", tt.rate, tt.burst, g.window, want)
		}
		// Rounding up never lets the effective rate exceed the configured one,
		// and costs less than one nanosecond an interval.
		if exact := 1e9 / tt.rate; float64(g.interval) < exact || float64(g.interval)-exact >= 1 {
			t.Errorf("rate %g: interval %d is not the exact %v rounded up", tt.rate, g.interval, exact)
		}
	}
}

func TestGCRATake(t *testing.T) {
	g := newGCRA(10, 3) // interval 100ms, window 300ms
	const ms = int64(time.Millisecond)
	tests := []struct {
		name             string
		tat, now, n, max int64
		wantTAT          int64
		wantWait         int64
		wantOK           bool
	}{
		{"full bucket", full, 0, 1, 0, 100 * ms, 0, true},
		{"full bucket, whole burst", full, 0, 3, 0, 300 * ms, 0, true},
		{"last token", 200 * ms, 0, 1, 0, 300 * ms, 0, true},
		{"empty", 300 * ms, 0, 1, 0, 300 * ms, 100 * ms, false},
		{"empty, willing to wait", 300 * ms, 0, 1, 100 * ms, 400 * ms, 100 * ms, true},
		{"empty, not willing enough", 300 * ms, 0, 1, 99 * ms, 300 * ms, 100 * ms, false},
		{"refilled by time", 300 * ms, 100 * ms, 1, 0, 400 * ms, 0, true},
		{"part refilled", 300 * ms, 50 * ms, 1, 0, 300 * ms, 50 * ms, false},
		{"two of one", 300 * ms, 100 * ms, 2, 0, 300 * ms, 100 * ms, false},
		{"stale TAT counts from now", 10 * ms, 5000 * ms, 3, 0, 5300 * ms, 0, true},
		{"reservations ahead", 900 * ms, 0, 1, math.MaxInt64, 1000 * ms, 700 * ms, true},
	}
	for _, tt := range tests {
		tat, wait, ok := g.take(tt.tat, tt.now, tt.n, tt.max)
		if tat != tt.wantTAT || wait != tt.wantWait || ok != tt.wantOK {
			t.Errorf("%s: take = (%v, %v, %v); want (%v, %v, %v)", tt.name,
				time.Duration(tat), time.Duration(wait), ok, time.Duration(tt.wantTAT), time.Duration(tt.wantWait), tt.wantOK)
		}
	}
}

func TestGCRAUntake(t *testing.T) {
	g := newGCRA(10, 3)
	const ms = int64(time.Millisecond)
	tests := []struct {
		name                string
		cur, now, n, act, r int64 // r is the TAT the reservation set
		want                int64
		wantOK              bool
	}{
		{"latest grant, not due", 500 * ms, 0, 2, 200 * ms, 500 * ms, 300 * ms, true},
		{"latest grant, due exactly now", 500 * ms, 200 * ms, 2, 200 * ms, 500 * ms, 300 * ms, true},
		{"latest grant, already due", 500 * ms, 201 * ms, 2, 200 * ms, 500 * ms, 500 * ms, false},
		{"a later grant is in effect", 600 * ms, 0, 2, 200 * ms, 500 * ms, 600 * ms, false},
	}
	for _, tt := range tests {
		got, ok := g.untake(tt.cur, tt.now, tt.n, tt.act, tt.r)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: untake = (%v, %v); want (%v, %v)", tt.name, time.Duration(got), ok, time.Duration(tt.want), tt.wantOK)
		}
	}
}

func TestClampOffset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{0, 0},
		{time.Hour, int64(time.Hour)},
		{-time.Hour, -int64(time.Hour)},
		{math.MaxInt64, maxOffset},
		{math.MinInt64, -maxOffset},
	}
	for _, tt := range tests {
		if got := clampOffset(tt.d); got != tt.want {
			t.Errorf("clampOffset(%v) = %d; want %d", tt.d, got, tt.want)
		}
	}
}

// TestFarTimesDoNotOverflow uses times at the edges of time.Time's range,
// which the clamp keeps from overflowing the TAT arithmetic.
func TestFarTimesDoNotOverflow(t *testing.T) {
	l := MustNew(Config{RequestsPerSecond: 1e-6, Burst: 1000}) // a window of 31 years
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	past := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	if !l.AllowN(past, 1000) {
		t.Fatalf("AllowN(year 1, burst) = false; want true")
	}
	if !l.AllowN(far, 1000) {
		t.Fatalf("AllowN(year 9999, burst) = false; want true")
	}
	if l.AllowAt(far) {
		t.Fatalf("AllowAt(year 9999) after the burst = true; want false")
	}
	r := l.ReserveN(far, 1000)
	if !r.OK() || r.DelayFrom(far) <= 0 {
		t.Fatalf("ReserveN(year 9999) = ok %v delay %v; want a positive delay", r.OK(), r.DelayFrom(far))
	}
	if got := l.TokensAt(far); got > 0 {
		t.Fatalf("TokensAt(year 9999) = %v; want at most 0", got)
	}
}
