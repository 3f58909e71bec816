package drill

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
)

// window holds the load's recent outcomes, by the time each finished, for
// the load probes. Finish time rather than start time, so that a window
// never misses requests still in flight: a request that hangs counts when
// it times out, which is when a client would know it failed. Its methods
// are safe for concurrent use; the zero value keeps nothing.
type window struct {
	keep time.Duration // the longest window any probe asks for

	// mu guards outs.
	mu   sync.Mutex
	outs []outcome // roughly in finish order (callbacks race by a hair)
}

type outcome struct {
	done    time.Time
	latency time.Duration
	ok      bool
	sent    bool // false: dropped at max_in_flight, no latency
}

// add records one finished request; it is the load's OnDone.
func (w *window) add(o loadgen.Outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.outs = append(w.outs, outcome{done: o.Done, latency: o.Latency, ok: o.Success, sent: !o.Dropped})
	// Forget what no probe can ask about any more, with a second of slack
	// for the slightly out-of-order finish times.
	cut := o.Done.Add(-w.keep - time.Second)
	i := 0
	for i < len(w.outs) && w.outs[i].done.Before(cut) {
		i++
	}
	if i > len(w.outs)/2 {
		w.outs = append(w.outs[:0], w.outs[i:]...)
	}
}

// windowStats describes the requests that finished in a window.
type windowStats struct {
	requests  int // finished, dropped ones included
	succeeded int
	answered  int           // sent and finished (latency known)
	p50, p99  time.Duration // over the answered requests
}

// stats summarises the requests that finished in (now-d, now].
func (w *window) stats(now time.Time, d time.Duration) windowStats {
	from := now.Add(-d)
	var s windowStats
	var lat []time.Duration
	w.mu.Lock()
	for _, o := range w.outs {
		if !o.done.After(from) || o.done.After(now) {
			continue
		}
		s.requests++
		if o.ok {
			s.succeeded++
		}
		if o.sent {
			lat = append(lat, o.latency)
		}
	}
	w.mu.Unlock()
	s.answered = len(lat)
	slices.Sort(lat)
	s.p50 = quantile(lat, 0.5)
	s.p99 = quantile(lat, 0.99)
	return s
}

// quantile is the nearest-rank quantile q of sorted values, or 0 for none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
