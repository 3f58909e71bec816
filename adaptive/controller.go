package adaptive

import (
	"math"
	"slices"
	"time"
)

// controller is the limiter's decision state: the limit estimate, the
// no-load latency and how it is re-measured, and the window being filled. It
// takes the time as a parameter and does no locking; [Limiter] serialises
// calls to it. Its zero value is not usable; see newController.
type controller struct {
	params
	window        time.Duration
	minSamples    int
	probeInterval time.Duration
	jitter        func() float64 // in [0, 1)

	// limit is the estimate, kept fractional so that small steps add up.
	// Calls are admitted up to floor(limit), or up to min while probing.
	limit float64
	// noload is the latency of a call that meets no queue; 0 until the
	// first probe ends.
	noload time.Duration

	// The open window.
	winStart time.Time
	samples  int
	sum      time.Duration
	drops    int
	peak     int

	// slowSince and slowRTT are the admitted limit and the latency of the
	// first window of the current run of windows over tolerance;
	// slowSince is 0 when the last window was within it.
	slowSince int
	slowRTT   time.Duration

	// While probing, the limit is held at min so that the dependency's
	// queues drain, and the latencies of calls admitted since probeStart
	// are collected in probe until it is full.
	probing    bool
	probeStart time.Time
	probe      []time.Duration
	nextProbe  time.Time
}

// change is what one observation did to the controller, for the events
// the limiter reports after it lets go of its lock.
type change struct {
	from, to     int  // admission limit before and after; equal when unchanged
	probeStarted bool // the limit fell to min to measure the no-load latency
	probeEnded   bool // the measurement is over and noload updated
}

func newController(c Config, now time.Time, jitter func() float64) *controller {
	return &controller{
		params: params{
			alg:       c.Algorithm,
			min:       float64(c.Min),
			max:       float64(c.Max),
			tolerance: c.Tolerance,
			backoff:   c.Backoff,
		},
		window:        c.Window,
		minSamples:    c.MinSamples,
		probeInterval: c.ProbeInterval,
		jitter:        jitter,
		limit:         float64(c.Initial),
		// The no-load latency is unknown at first, so the controller starts
		// by measuring it.
		probing:    true,
		probeStart: now,
		probe:      make([]time.Duration, 0, c.ProbeSamples),
	}
}

// admitted returns the number of calls that may be in flight now.
func (c *controller) admitted() int {
	if c.probing {
		return int(c.min)
	}
	return int(c.limit)
}

// observe records a call that was admitted at start and finished at now,
// with inFlight calls (itself included) in flight just before it finished;
// drop reports that it ended in an overload signal.
func (c *controller) observe(start, now time.Time, inFlight int, drop bool) change {
	ch := change{from: c.admitted()}
	if c.probing {
		// Only calls admitted during the probe met drained queues; drops
		// carry no latency worth keeping.
		if !drop && !start.Before(c.probeStart) {
			c.probe = append(c.probe, now.Sub(start))
			if len(c.probe) == cap(c.probe) {
				c.endProbe(now)
				ch.probeEnded = true
			}
		}
		ch.to = c.admitted()
		return ch
	}

	if drop {
		c.drops++
	} else {
		c.samples++
		c.sum += now.Sub(start)
	}
	c.peak = max(c.peak, inFlight)
	// A window spans at least two no-load round trips, so that most calls
	// it measures were admitted under the limit it is judging.
	if now.Sub(c.winStart) >= max(c.window, 2*c.noload) && c.samples+c.drops >= c.minSamples {
		if stuck := c.closeWindow(now); stuck || !now.Before(c.nextProbe) {
			c.startProbe(now)
			ch.probeStarted = true
		}
	}
	ch.to = c.admitted()
	return ch
}

// closeWindow moves the limit by the window that ends now. It reports
// whether the latency has proved not to be of the limiter's making, so that
// the no-load latency should be measured again at once: a dependency that
// became slower for good looks congested against the old no-load latency,
// and the limit would sink to Min and stay there until the next probe.
//
// Two signs give it away. Latency over tolerance that did not fall by a
// tenth while the limit in force was halved: queueing caused by this
// limiter's calls shrinks with their number. Or latency over tolerance with
// just Min calls in flight, where the limiter queues next to nothing.
func (c *controller) closeWindow(now time.Time) (stuck bool) {
	w := window{samples: c.samples, drops: c.drops, utilised: 2*c.peak >= int(c.limit)}
	if c.samples > 0 {
		w.rtt = c.sum / time.Duration(c.samples)
		// A whole window faster than the measured no-load latency means
		// the dependency got faster; believe it at once rather than wait
		// for the next probe.
		c.noload = max(min(c.noload, w.rtt), 1)
	}
	inForce := c.admitted()
	if w.samples > 0 && float64(w.rtt) > float64(c.noload)*(1+c.tolerance) {
		if c.slowSince == 0 {
			c.slowSince, c.slowRTT = inForce, w.rtt
		}
		stuck = inForce <= int(c.min) ||
			(2*inForce <= c.slowSince && w.rtt >= c.slowRTT-c.slowRTT/10)
	} else {
		c.slowSince = 0
	}
	c.limit = c.next(c.limit, c.noload, w)
	c.openWindow(now)
	return stuck
}

func (c *controller) openWindow(now time.Time) {
	c.winStart = now
	c.samples, c.sum, c.drops, c.peak = 0, 0, 0, 0
}

func (c *controller) startProbe(now time.Time) {
	c.probing = true
	c.probeStart = now
	c.probe = c.probe[:0]
	c.slowSince = 0
}

// endProbe takes the median of the probe's latencies as the new no-load
// latency: unlike the minimum it is not set by one lucky call, and unlike
// the mean not by one slow one.
func (c *controller) endProbe(now time.Time) {
	slices.Sort(c.probe)
	c.noload = max(c.probe[len(c.probe)/2], 1)
	c.probing = false
	// Stretch the interval at random so that a fleet of limiters that
	// started together does not starve a dependency together.
	extra := time.Duration(0.15 * c.jitter() * float64(c.probeInterval))
	c.nextProbe = now.Add(c.probeInterval + min(extra, math.MaxInt64-c.probeInterval))
	c.openWindow(now)
}
