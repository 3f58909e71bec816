package toxic

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// httpDelay holds each request it hits for a time drawn from a
// distribution. On the downstream stream (the default) the upstream's
// answer is held before it is relayed; on the upstream stream the request is
// held before it is forwarded. All times are milliseconds (fractions
// allowed).
//
//	distribution  parameters
//	fixed         delay
//	uniform       min, max               (min <= max)
//	normal        mean, stddev           (draws below 0 count as 0)
//	pareto        scale, shape           (scale is the minimum, shape > 0; the
//	                                      smaller the shape, the heavier the tail)
//
// cap (optional, 0 = none) bounds every draw, to keep a heavy tail finite.
// Attributes given for another distribution are an error.
type httpDelay struct {
	Distribution string  `json:"distribution"`
	Delay        float64 `json:"delay,omitempty"`
	Min          float64 `json:"min,omitempty"`
	Max          float64 `json:"max,omitempty"`
	Mean         float64 `json:"mean,omitempty"`
	Stddev       float64 `json:"stddev,omitempty"`
	Scale        float64 `json:"scale,omitempty"`
	Shape        float64 `json:"shape,omitempty"`
	Cap          float64 `json:"cap,omitempty"`
	Match        *match  `json:"match,omitempty"`
}

// delayParams lists the parameters of each distribution.
var delayParams = map[string][]string{
	"fixed":   {"delay"},
	"uniform": {"min", "max"},
	"normal":  {"mean", "stddev"},
	"pareto":  {"scale", "shape"},
}

func parseHTTPDelay(a *attrs) any {
	t := &httpDelay{Distribution: a.str("distribution", "fixed")}
	params, ok := delayParams[t.Distribution]
	if !ok {
		a.fail("distribution", "must be fixed, uniform, normal or pareto, got %q", t.Distribution)
	}
	fields := map[string]*float64{
		"delay": &t.Delay, "min": &t.Min, "max": &t.Max, "mean": &t.Mean,
		"stddev": &t.Stddev, "scale": &t.Scale, "shape": &t.Shape,
	}
	for _, key := range []string{"delay", "min", "max", "mean", "stddev", "scale", "shape"} {
		if _, given := a.m[key]; !given {
			continue
		}
		if ok && !slices.Contains(params, key) {
			a.used[key] = true
			a.fail(key, "does not apply to distribution %s (it takes %v)", t.Distribution, params)
			continue
		}
		hi := float64(maxMillis)
		if key == "shape" {
			hi = 1000
		}
		*fields[key] = a.real(key, 0, 0, hi)
	}
	t.Cap = a.real("cap", 0, 0, maxMillis)
	switch t.Distribution {
	case "uniform":
		if t.Min > t.Max {
			a.fail("max", "must be >= min (%g), got %g", t.Min, t.Max)
		}
	case "pareto":
		if t.Scale <= 0 {
			a.fail("scale", "must be > 0, got %g", t.Scale)
		}
		if t.Shape <= 0 {
			a.fail("shape", "must be > 0, got %g", t.Shape)
		}
	}
	t.Match = parseMatch(a)
	return t
}

// draw returns one delay in milliseconds, given u uniform in [0, 1) and z
// standard normal.
func (t *httpDelay) draw(u, z float64) float64 {
	var ms float64
	switch t.Distribution {
	case "uniform":
		ms = t.Min + u*(t.Max-t.Min)
	case "normal":
		ms = t.Mean + z*t.Stddev
	case "pareto":
		// Inverse CDF: x = scale / (1-u)^(1/shape); 1-u is in (0, 1].
		ms = t.Scale / math.Pow(1-u, 1/t.Shape)
	default:
		ms = t.Delay
	}
	if ms < 0 || math.IsNaN(ms) {
		ms = 0
	}
	if t.Cap > 0 && ms > t.Cap {
		ms = t.Cap
	}
	return min(ms, maxMillis)
}

func (t *httpDelay) matcher() *match { return t.Match }

func (t *httpDelay) apply(r *http.Request) *reply {
	d := time.Duration(t.draw(rand.Float64(), rand.NormFloat64()) * float64(time.Millisecond))
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Context().Done():
	}
	return nil
}
