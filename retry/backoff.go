package retry

import (
	"math"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Delay returns the wait before retry n (1 for the first retry, so the second
// attempt), given prev, the wait before the previous retry (zero before the
// first), and rnd, a random number in [0, 1). It is a pure function of its
// arguments; zero fields of c take their defaults.
//
//   - [JitterFull]: rnd × min(Max, Base × Multiplier^(n-1)), in [0, cap).
//   - [JitterNone]: min(Max, Base × Multiplier^(n-1)).
//   - [JitterDecorrelated]: min(Max, Base + rnd × (3 × max(prev, Base) − Base)),
//     in [Base, Max].
//
// rnd outside [0, 1] is clamped to it.
func (c BackoffConfig) Delay(n int, prev time.Duration, rnd float64) time.Duration {
	c = c.withDefaults()
	if !(rnd >= 0) { // NaN too
		rnd = 0
	}
	rnd = min(rnd, 1)
	base, ceil := float64(c.Base), float64(c.Max)
	var d float64
	switch c.Jitter {
	case JitterDecorrelated:
		p := max(float64(prev), base)
		d = base + rnd*(3*p-base)
	default:
		// In floating point, so a large n saturates at +Inf instead of
		// overflowing; min then yields Max.
		d = base * math.Pow(c.Multiplier, float64(max(n, 1)-1))
		if c.Jitter != JitterNone {
			d = min(d, ceil) * rnd
		}
	}
	if math.IsNaN(d) { // only from an invalid Multiplier; Validate rejects it
		d = ceil
	}
	return time.Duration(min(d, ceil))
}

// Backoff returns the wait before retry n (1 for the first retry) after an
// attempt failed with last, given prev, the previous wait (zero before the
// first retry). When last carries a wait hint (holdfast.RetryAfter), the
// hint is the wait; ok is false if it exceeds [Config].MaxRetryAfter, meaning
// do not retry. Otherwise the wait comes from [BackoffConfig.Delay] with r's
// random source. Backoff does not consult the budget or any deadline.
//
// The proxy uses it to pace retries it makes itself, with the same rules as
// [Retry.Execute].
func (r *Retry) Backoff(n int, prev time.Duration, last error) (wait time.Duration, ok bool) {
	if hint, has := holdfast.RetryAfter(last); has {
		hint = max(hint, 0)
		return hint, hint <= r.cfg.MaxRetryAfter
	}
	return r.cfg.Backoff.Delay(n, prev, r.rand()), true
}
