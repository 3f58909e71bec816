package holdfast

import (
	"sync"
	"sync/atomic"
	"time"
)

// CoarseTick is the period of the coarse clock behind [CoarseClock]: while
// it is in use, its reading is refreshed this often.
const CoarseTick = time.Millisecond

// coarseIdleTicks is how many ticks without a reader stop the coarse clock's
// ticker: at fewer reads than that, reading the clock itself costs less
// than ticking.
const coarseIdleTicks = 4

// CoarseClock is a monotonic clock that is cheap to read, for policies that
// need the time on every call but not to the nanosecond, such as a
// breaker's time window or a rate limiter's Allow. Reading it costs one
// atomic load (3–4 ns) instead of a system clock read (30–70 ns on some
// virtual machines).
//
// Its precision: [CoarseClock.Since] is never ahead of time.Since(base) and
// is normally at most one [CoarseTick] (1 ms) behind it. It can fall further
// behind while the process is starved of CPU or stopped, because the one
// ticker goroutine that refreshes it then runs late. Readings never go
// backwards.
//
// All CoarseClocks share one ticker goroutine, started by the first
// [NewCoarseClock] and running only while clocks are read: it stops after
// a few ticks without a reader and parks, costing nothing, and the next
// reading reads the system clock itself and wakes it.
//
// Inside a testing/synctest bubble, where time is virtual and time.Now
// carries no monotonic reading, NewCoarseClock returns a clock that reads
// time.Since(base) exactly on every call, so tests see virtual time move
// exactly as they sleep.
//
// The zero CoarseClock is not usable; a CoarseClock is a small value, safe
// to copy and to use concurrently.
type CoarseClock struct {
	base   time.Time
	offset int64        // base on the shared clock's scale
	shared *coarseClock // the shared coarse clock, or an exact one of its own
}

// NewCoarseClock returns a clock of the time elapsed since now, which
// [CoarseClock.Base] returns: the coarse clock's reading of now, which may
// be up to a tick before time.Now (exactly time.Now in a synctest bubble).
func NewCoarseClock() CoarseClock {
	base := time.Now()
	if base == base.Round(0) {
		// No monotonic reading: a synctest bubble (see time_runtimeNow in
		// the runtime). The shared ticker must not start here, or it would
		// belong to the bubble and tick in its virtual time.
		return CoarseClock{base: base, shared: &coarseClock{origin: base, exact: true}}
	}
	// The base is the coarse clock's own reading, so that Since starts at 0
	// and is never negative; it is at most a tick before time.Now.
	c := sharedCoarse()
	r := c.now()
	return CoarseClock{base: c.origin.Add(time.Duration(r)), offset: r, shared: c}
}

// Base returns the instant the clock counts from.
func (c CoarseClock) Base() time.Time { return c.base }

// Coarse reports whether c reads the shared coarse clock, and false when it
// reads the system clock exactly (inside a synctest bubble).
func (c CoarseClock) Coarse() bool { return !c.shared.exact }

// Since returns the time elapsed since [CoarseClock.Base], with the
// precision described on [CoarseClock].
func (c *CoarseClock) Since() time.Duration {
	// The common case, a running clock already read since its last tick,
	// is one load, small enough to inline.
	w := c.shared.word.Load()
	if w&(runningBit|usedBit) != runningBit|usedBit {
		w = c.shared.now() << flagBits
	}
	return time.Duration(w>>flagBits - c.offset)
}

// The flags in the low bits of coarseClock.word.
const (
	usedBit    = 1 << iota // a reader came since the ticker last looked
	runningBit             // the ticker refreshes the reading every tick
	flagBits   = iota
)

// coarseClock is the shared state behind every CoarseClock.
type coarseClock struct {
	origin time.Time // every reading is nanoseconds since origin
	// exact marks a clock that reads the system clock on every call (made
	// in a synctest bubble); its word stays 0, so CoarseClock.Since always
	// asks now.
	exact bool
	// wake restarts a parked ticker; a reader that finds the clock stopped
	// sends on it without blocking.
	wake chan struct{}

	_ [64]byte // keep word off the line above
	// word is the reading shifted left by flagBits, and the flags. The
	// reading is the latest time known, in nanoseconds since origin: the
	// largest of the ticker's and the stopped-clock readers' system clock
	// reads, so readings never go backwards. Readers set usedBit only when
	// it is clear, so a busy clock costs one write per tick.
	word atomic.Int64
	_    [56]byte
}

var (
	coarseOnce sync.Once
	coarse     *coarseClock
)

// sharedCoarse returns the shared coarse clock, starting its goroutine the
// first time. It must be called outside any synctest bubble.
func sharedCoarse() *coarseClock {
	coarseOnce.Do(func() {
		coarse = newCoarseClock()
		go coarse.run(CoarseTick, nil)
	})
	return coarse
}

func newCoarseClock() *coarseClock {
	return &coarseClock{origin: time.Now(), wake: make(chan struct{}, 1)}
}

// running reports whether the ticker is refreshing the reading.
func (c *coarseClock) running() bool { return c.word.Load()&runningBit != 0 }

// now returns the clock's reading in nanoseconds since origin.
func (c *coarseClock) now() int64 {
	if c.exact {
		return int64(time.Since(c.origin))
	}
	w := c.word.Load()
	if w&runningBit == 0 {
		return c.stopped()
	}
	if w&usedBit == 0 {
		c.word.CompareAndSwap(w, w|usedBit) // lost to a tick or a reader: either is fine
	}
	return w >> flagBits
}

// stopped is now while the ticker is stopped: it reads the system clock,
// publishes the reading (so that no later reading is smaller) and wakes the
// ticker.
func (c *coarseClock) stopped() int64 {
	t := int64(time.Since(c.origin))
	for {
		w := c.word.Load()
		if w>>flagBits >= t || c.word.CompareAndSwap(w, t<<flagBits|w&runningBit) {
			break
		}
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return t
}

// publish raises the reading to the system clock's, sets or clears
// runningBit, clears usedBit, and reports whether it was set.
func (c *coarseClock) publish(running bool) (used bool) {
	t := int64(time.Since(c.origin))
	var flags int64
	if running {
		flags = runningBit
	}
	for {
		w := c.word.Load()
		if c.word.CompareAndSwap(w, max(t, w>>flagBits)<<flagBits|flags) {
			return w&usedBit != 0
		}
	}
}

// run is the ticker goroutine: it refreshes the reading every tick while
// readers come, and parks when they stop. Parked, it holds no timer and
// takes no CPU. It returns when quit is closed; the shared clock's is nil,
// and its goroutine lives as long as the process.
func (c *coarseClock) run(tick time.Duration, quit <-chan struct{}) {
	t := time.NewTicker(tick)
	defer t.Stop()
	c.publish(true)
	idle := 0
	for {
		select {
		case <-t.C:
		case <-quit:
			c.publish(false)
			return
		}
		if c.publish(true) {
			idle = 0
			continue
		}
		if idle++; idle < coarseIdleTicks {
			continue
		}
		// Stop: readers read the system clock themselves until the ticker
		// is back, so none sees a reading older than the last tick.
		c.publish(false)
		t.Stop()
		select {
		case <-c.wake:
		case <-quit:
			return
		}
		idle = 0
		c.publish(true)
		t.Reset(tick)
	}
}
