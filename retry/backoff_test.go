package retry

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	full := BackoffConfig{}
	none := BackoffConfig{Jitter: JitterNone}
	deco := BackoffConfig{Jitter: JitterDecorrelated}
	tests := []struct {
		name string
		cfg  BackoffConfig
		n    int
		prev time.Duration
		rnd  float64
		want time.Duration
	}{
		{"full first retry", full, 1, 0, 0.5, 12500 * time.Microsecond},
		{"full third retry", full, 3, 0, 0.5, 50 * ms},
		{"full capped", full, 10, 0, 0.5, 500 * ms},
		{"full huge n saturates", full, math.MaxInt, 0, 0.5, 500 * ms},
		{"full rnd 0", full, 3, 0, 0, 0},
		{"full n 0 is n 1", full, 0, 0, 1, 25 * ms},
		{"full negative rnd clamps to 0", full, 2, 0, -3, 0},
		{"full NaN rnd clamps to 0", full, 2, 0, math.NaN(), 0},
		{"full rnd above 1 clamps to 1", full, 2, 0, 7, 50 * ms},
		{"full ignores prev", full, 1, 900 * ms, 1, 25 * ms},
		{"none", none, 2, 0, 0.1, 50 * ms},
		{"none capped", none, 7, 0, 0, time.Second},
		{"none multiplier 1.5", BackoffConfig{Base: 100 * ms, Multiplier: 1.5, Jitter: JitterNone}, 3, 0, 0, 225 * ms},
		{"none multiplier 1 is constant", BackoffConfig{Base: 100 * ms, Multiplier: 1, Jitter: JitterNone}, 40, 0, 0, 100 * ms},
		{"none base above default max", BackoffConfig{Base: 2 * time.Second, Jitter: JitterNone}, 2, 0, 0, 2 * time.Second},
		{"custom max", BackoffConfig{Base: 10 * ms, Max: 30 * ms, Jitter: JitterNone}, 3, 0, 0, 30 * ms},
		{"decorrelated rnd 0 is base", deco, 1, 0, 0, 25 * ms},
		{"decorrelated first retry up to 3 base", deco, 1, 0, 1, 75 * ms},
		{"decorrelated from prev", deco, 4, 100 * ms, 0.5, 162500 * time.Microsecond},
		{"decorrelated prev below base", deco, 2, ms, 1, 75 * ms},
		{"decorrelated capped", deco, 5, 900 * ms, 1, time.Second},
		{"decorrelated ignores n", deco, 99, 100 * ms, 0, 25 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Delay(tt.n, tt.prev, tt.rnd); got != tt.want {
				t.Errorf("Delay(%d, %s, %g) = %s; want %s", tt.n, tt.prev, tt.rnd, got, tt.want)
			}
		})
	}
}

// TestJitterBounds draws many waits from random configs and checks each
// strategy's bounds, and that full and decorrelated jitter spread over their
// whole range instead of clustering.
func TestJitterBounds(t *testing.T) {
	src := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		base := time.Duration(1 + src.Int64N(int64(time.Second)))
		c := BackoffConfig{
			Base:       base,
			Max:        base + time.Duration(src.Int64N(int64(10*time.Second))),
			Multiplier: 1 + 3*src.Float64(),
		}
		n := 1 + src.IntN(70)
		ceil := time.Duration(min(float64(c.Base)*math.Pow(c.Multiplier, float64(n-1)), float64(c.Max)))
		prev := time.Duration(src.Int64N(int64(c.Max)))
		var lo, hi float64 = 1, 0 // the spread seen, as a share of the range
		for range 100 {
			rnd := src.Float64()
			c.Jitter = JitterFull
			if d := c.Delay(n, prev, rnd); d < 0 || d > ceil {
				t.Fatalf("config %d: full Delay(%d, %s, %g) = %s; want in [0, %s]", i, n, prev, rnd, d, ceil)
			} else if ceil > 0 {
				lo, hi = min(lo, float64(d)/float64(ceil)), max(hi, float64(d)/float64(ceil))
			}
			c.Jitter = JitterNone
			if d := c.Delay(n, prev, rnd); d != ceil {
				t.Fatalf("config %d: none Delay(%d, %s, %g) = %s; want %s", i, n, prev, rnd, d, ceil)
			}
			c.Jitter = JitterDecorrelated
			upper := min(3*max(prev, c.Base), c.Max)
			if d := c.Delay(n, prev, rnd); d < c.Base || d > upper {
				t.Fatalf("config %d: decorrelated Delay(%d, %s, %g) = %s; want in [%s, %s]", i, n, prev, rnd, d, c.Base, upper)
			}
		}
		if lo > 0.1 || hi < 0.9 {
			t.Fatalf("config %d: full jitter spread over [%.2f, %.2f] of its range in 100 draws; want at least [0.1, 0.9]", i, lo, hi)
		}
	}
}

// hintError is a retryable error that carries a Retry-After hint.
type hintError time.Duration

func (e hintError) Error() string             { return fmt.Sprintf("busy, retry after %s", time.Duration(e)) }
func (e hintError) RetryAfter() time.Duration { return time.Duration(e) }

func TestRetryBackoffHonoursRetryAfter(t *testing.T) {
	r := MustNew(Config{Rand: func() float64 { return 0.5 }})
	long := MustNew(Config{MaxRetryAfter: time.Hour})
	tests := []struct {
		name   string
		r      *Retry
		n      int
		last   error
		want   time.Duration
		wantOK bool
	}{
		{"no hint uses backoff", r, 2, errors.New("x"), 25 * ms, true},
		{"hint replaces backoff", r, 1, hintError(2 * time.Second), 2 * time.Second, true},
		{"hint shorter than backoff", r, 5, hintError(ms), ms, true},
		{"wrapped hint", r, 1, fmt.Errorf("get: %w", hintError(3*time.Second)), 3 * time.Second, true},
		{"hint at max_retry_after", r, 1, hintError(30 * time.Second), 30 * time.Second, true},
		{"hint past max_retry_after", r, 1, hintError(31 * time.Second), 31 * time.Second, false},
		{"hint within a raised max", long, 1, hintError(31 * time.Second), 31 * time.Second, true},
		{"negative hint is zero", r, 1, hintError(-time.Second), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.r.Backoff(tt.n, 0, tt.last)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Backoff(%d, 0, %v) = %s, %v; want %s, %v", tt.n, tt.last, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
