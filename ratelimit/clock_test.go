package ratelimit

import (
	"testing"
	"time"
)

// TestAllowCoarseClock checks Allow on holdfast's coarse clock (outside a
// synctest bubble): the token it takes is taken on the limiter's own scale,
// as TokensAt sees it with the exact time, and never before it is due.
func TestAllowCoarseClock(t *testing.T) {
	l := MustNew(Config{RequestsPerSecond: 1, Burst: 2})
	if !l.clock.Coarse() {
		t.Fatal("limiter clock is exact outside a synctest bubble; want the coarse one")
	}
	if !l.Allow() {
		t.Fatal("Allow() on a full bucket = false; want true")
	}
	// The coarse time is never ahead of the exact one, so the token was
	// taken at or before now: at least one token is left, and at most one
	// and the refill since then.
	if got := l.TokensAt(time.Now()); got < 1 || got >= 2 {
		t.Errorf("TokensAt(now) after one Allow = %v; want in [1, 2)", got)
	}
	if !l.Allow() || l.Allow() {
		t.Error("Allow() twice more on a bucket of 2 = want true, then false")
	}
}

// TestAllowNeverAheadOfRate hammers Allow on the coarse clock: however late
// the clock, the limiter never grants more than Burst plus the rate times
// the time that passed.
func TestAllowNeverAheadOfRate(t *testing.T) {
	const rate, burst = 100_000, 10
	l := MustNew(Config{RequestsPerSecond: rate, Burst: burst})
	start := time.Now()
	granted := 0
	for range 200_000 {
		if l.Allow() {
			granted++
		}
	}
	elapsed := time.Since(start)
	if limit := burst + int(rate*elapsed.Seconds()) + 1; granted > limit {
		t.Errorf("Allow granted %d tokens in %v; want at most %d", granted, elapsed, limit)
	}
}
