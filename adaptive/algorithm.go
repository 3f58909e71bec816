package adaptive

import (
	"math"
	"time"
)

// window is what the calls that finished in one sampling window add up to.
type window struct {
	samples int           // calls that finished normally
	rtt     time.Duration // their mean latency; zero when samples is 0
	drops   int           // calls that reported overload (Token.Drop)
	// utilised is set when in-flight calls reached at least half the limit
	// during the window. A limit nobody came near says nothing about what
	// the dependency can take, so without it the limit may fall but not rise.
	utilised bool
}

// params are the tuning values the algorithms share.
type params struct {
	alg       Algorithm
	min, max  float64
	tolerance float64
	backoff   float64
}

// next returns the limit that follows limit after window w, given the
// no-load latency noload. It is a pure function of its arguments.
func (p params) next(limit float64, noload time.Duration, w window) float64 {
	var n float64
	switch {
	case w.drops > 0:
		// An overload signal outranks latency: every algorithm backs off.
		n = limit * p.backoff
	case w.samples == 0 || noload <= 0:
		n = limit
	default:
		switch p.alg {
		case Vegas:
			n = vegas(limit, noload, w.rtt)
		case AIMD:
			n = aimd(limit, noload, w.rtt, p.tolerance, p.backoff)
		default:
			n = gradient(limit, noload, w.rtt, p.tolerance)
		}
	}
	if !w.utilised {
		n = min(n, limit)
	}
	return min(max(n, p.min), p.max)
}

// gradient scales limit by how far the measured latency is from the
// tolerated one and adds a headroom of √limit, so that a limit at its fixed
// point still probes for more room. The gradient is clamped to [0.5, 2] so
// that one odd window cannot more than halve or double the limit. Under
// overload of a dependency with c workers, whose latency grows as
// noload × inFlight / c, the fixed point is limit = c(1+tol) + √(c(1+tol)):
// the workers stay busy and latency stays within about 1 + tol of no-load.
func gradient(limit float64, noload, rtt time.Duration, tolerance float64) float64 {
	g := float64(noload) * (1 + tolerance) / float64(rtt)
	g = min(max(g, 0.5), 2)
	return g*limit + math.Sqrt(g*limit)
}

// vegas estimates the calls queued downstream as limit × (1 − noload/rtt)
// and keeps that queue between α = 3·log10(limit) and β = 6·log10(limit):
// it grows by β while there is hardly any queue, by log10(limit) while the
// queue is under α, and above β sheds the excess queue at once (at least
// log10(limit)), where classic Vegas sheds only log10(limit) per window and
// so takes long to follow a dependency that suddenly slowed down.
func vegas(limit float64, noload, rtt time.Duration) float64 {
	queue := 0.0
	if rtt > noload {
		queue = limit * (1 - float64(noload)/float64(rtt))
	}
	step := max(1, math.Log10(limit))
	alpha, beta := 3*step, 6*step
	switch {
	case queue <= step:
		return limit + beta
	case queue < alpha:
		return limit + step
	case queue > beta:
		return limit - max(step, queue-beta)
	default:
		return limit
	}
}

// aimd adds one while latency stays within tolerance of noload and backs off
// multiplicatively when it does not.
func aimd(limit float64, noload, rtt time.Duration, tolerance, backoff float64) float64 {
	if float64(rtt) > float64(noload)*(1+tolerance) {
		return limit * backoff
	}
	return limit + 1
}
