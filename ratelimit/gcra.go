package ratelimit

import (
	"math"
	"time"
)

// The limiter keeps time as int64 nanoseconds since its epoch (the moment it
// was made). Offsets are clamped to ±maxOffset so that a theoretical arrival
// time plus a full window can never overflow: maxOffset + maxWindow + a
// window's worth of tokens stays below 2^63.
const (
	maxOffset = int64(1) << 61 // about 73 years either side of the epoch
	maxWindow = int64(1) << 60 // about 36 years: the longest a full bucket may take to refill

	// full is the theoretical arrival time of a bucket nobody has used: at or
	// before every clamped now, so the bucket is full from the start.
	full = -maxOffset
)

// gcra is the generic cell rate algorithm, the arithmetic shared by [Limiter]
// and every bucket of a [Keyed]. A bucket's whole state is one number, its
// theoretical arrival time (TAT): the moment the bucket would be full again if
// no more tokens were taken. At time now the bucket holds
//
//	burst - max(0, TAT-now)/interval
//
// tokens, so taking n tokens is allowed while TAT+n·interval-now ≤ window,
// where window = burst·interval. Because the state is one int64, a [Limiter]
// updates it with a compare-and-swap and no lock.
//
// The zero value is not usable; gcra values are made by newGCRA and never
// change afterwards.
type gcra struct {
	interval int64 // nanoseconds per token; ceil(1e9/rate), so at least 1
	burst    int64 // bucket size in tokens, at least 1
	window   int64 // burst·interval: how far TAT may run ahead of now
}

// newGCRA returns the parameters for rate tokens per second and burst. The
// emission interval is rounded up to a whole nanosecond, so the effective
// rate, 1e9/interval, never exceeds rate; it is exact when rate divides 1e9
// and within 0.1% for rates up to a million per second. c must be valid.
func newGCRA(rate float64, burst int) gcra {
	interval := int64(math.Ceil(1e9 / rate))
	if interval < 1 {
		interval = 1
	}
	return gcra{interval: interval, burst: int64(burst), window: int64(burst) * interval}
}

// take works out taking n tokens (1 ≤ n ≤ burst) at now from a bucket whose
// TAT is tat, when the caller is willing to wait up to maxWait for them.
// It returns the bucket's new TAT and how long the caller must wait before
// acting. When the wait would be longer than maxWait, ok is false, nothing is
// taken (next == tat) and wait is the delay after which the same request
// would be allowed at once.
func (g *gcra) take(tat, now, n, maxWait int64) (next, wait int64, ok bool) {
	// Capping the wait keeps every TAT within now+2·maxWindow, so the sum
	// below cannot overflow however many reservations pile up.
	maxWait = min(maxWait, maxWindow)
	next = max(tat, now) + n*g.interval
	wait = next - g.window - now
	if wait <= 0 {
		return next, 0, true
	}
	if wait > maxWait {
		return tat, wait, false
	}
	return next, wait, true
}

// untake returns the TAT after cancelling, at now, a reservation of n
// tokens that set the TAT to tat and was due to act at act; ok is false when
// nothing is given back. The tokens come back only while the reservation is
// not yet due (act ≥ now, as in golang.org/x/time/rate) and only when no
// grant made after it is still in effect (cur == tat), so that cancellations
// unwind in reverse order. The TAT then returns exactly to its value before
// the reservation, which is what makes the rule safe: the grants that remain
// are those that were there before, and they fitted under that TAT. Giving
// back tokens out of order, as x/time/rate's count of tokens does, can let a
// newcomer be scheduled beside reservations that were placed behind the
// cancelled one, and the bucket alone does not record enough to tell when
// that is harmless.
func (g *gcra) untake(cur, now, n, act, tat int64) (next int64, ok bool) {
	if act < now || cur != tat {
		return cur, false
	}
	return tat - n*g.interval, true
}

// tokens returns how many tokens a bucket whose TAT is tat holds at now. It
// is negative when reservations have been made ahead of time.
func (g *gcra) tokens(tat, now int64) float64 {
	return float64(g.burst) - float64(max(0, tat-now))/float64(g.interval)
}

// clampOffset clamps d, a time relative to an epoch, to ±maxOffset.
func clampOffset(d time.Duration) int64 {
	return min(max(int64(d), -maxOffset), maxOffset)
}
