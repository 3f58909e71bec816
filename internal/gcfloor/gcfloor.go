// Package gcfloor keeps the Go heap's goal from falling under a floor.
//
// With GOGC at its default of 100 the runtime collects each time the heap
// doubles its live part. A proxy's live heap is small (a few MiB: its
// config, pools and connections) while it allocates fast (a few KiB per
// request), so at the default it collects dozens of times a second under
// load, and the collector's fixed costs (its phases, the stacks it scans,
// the write barrier while it marks) become a large share of the CPU: a
// fifth of holdfast serve's, measured (BENCHMARKS.md). Holding the goal at
// a floor while the live heap is small spends a few MiB more under load
// to collect several times less often; once the live heap is over half
// the floor, GOGC is the default again. This is what the Go proposal for
// a minimum heap (golang/go#44309) and Uber's GC tuner do; GOMEMLIMIT
// still bounds the heap, since the runtime honours it over GOGC.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultPercent is GOGC's default, the least Percent returns.
const DefaultPercent = 100

// runtimeHeapMinimum is the Go runtime's least heap goal at GOGC 100,
// which it scales with GOGC (defaultHeapMinimum in runtime/mgcpacer.go):
// at GOGC p the goal is never under runtimeHeapMinimum × p/100, however
// little is live.
const runtimeHeapMinimum = 4 << 20

// Percent returns the GOGC that puts the heap goal at floor, or at twice
// the live heap where that is more: the goal at GOGC p is live × (1 +
// p/100), and never under runtimeHeapMinimum × p/100, so p goes no higher
// than puts that minimum at the floor. It is never under the default.
func Percent(live, floor uint64) int {
	top := max(floor*100/runtimeHeapMinimum, DefaultPercent)
	if live >= floor {
		return DefaultPercent
	}
	if live == 0 {
		return int(top)
	}
	p := floor/live*100 + floor%live*100/live - 100
	return int(min(max(p, DefaultPercent), top))
}

// tuner sets GOGC after every collection.
type tuner struct {
	floor   uint64
	mu      sync.Mutex
	stopped bool
	percent int // what it set last
	prev    int // GOGC before it started
	sample  []metrics.Sample
}

// sentinel is an object whose collection marks a cycle's end; it holds a
// pointer so that it is never one of the tiny allocations batched together,
// whose cleanups may not run.
type sentinel struct{ _ *byte }

// Start sets GOGC from the live heap after every collection, so that the
// heap goal stays at floor or above, until the returned stop, which puts
// back the GOGC it found.
func Start(floor uint64) (stop func()) {
	t := &tuner{floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.mu.Lock()
	t.percent = t.next()
	t.prev = debug.SetGCPercent(t.percent)
	t.mu.Unlock()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.stopped {
			t.stopped = true
			debug.SetGCPercent(t.prev)
		}
	}
}

// next is the GOGC the live heap calls for.
func (t *tuner) next() int {
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	return Percent(live, t.floor)
}

// arm has cycle run once the collection after this one is over.
func (t *tuner) arm() {
	runtime.AddCleanup(&sentinel{}, (*tuner).cycle, t)
}

func (t *tuner) cycle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if p := t.next(); p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
	t.arm()
	if cycled != nil {
		cycled(t.percent)
	}
}

// cycled, set by tests, sees each cycle's GOGC.
var cycled func(percent int)
