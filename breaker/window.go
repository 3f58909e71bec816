package breaker

import (
	"math"
	"sync/atomic"
	"time"
)

// The outcome of one call, as stored in a window.
const (
	failBit uint32 = 1 << iota
	slowBit
)

// windowCounts is what a window holds at one moment.
type windowCounts struct {
	calls, failures, slow int64
}

// countWindow holds the outcomes of the last size calls, lock-free. Each call
// takes the next slot of a ring (next counts the calls so far) and swaps its
// outcome in; the value the swap returns says exactly how the failure and slow
// totals change, so the totals always equal the sum over the slots once the
// writers in flight have finished, however the writers interleave.
//
// A success over a slot that already holds a success writes nothing, so the
// common case costs one atomic add and one load.
type countWindow struct {
	size     uint64
	next     atomic.Uint64
	failures atomic.Int64
	slow     atomic.Int64
	slots    []atomic.Uint32 // failBit | slowBit; 0 is a fast success (or empty)
}

func newCountWindow(size int) *countWindow {
	return &countWindow{size: uint64(size), slots: make([]atomic.Uint32, size)}
}

// add records one outcome.
func (w *countWindow) add(bits uint32) {
	s := &w.slots[(w.next.Add(1)-1)%w.size]
	if bits == 0 && s.Load() == 0 {
		return
	}
	old := s.Swap(bits)
	if d := int64(bits&failBit) - int64(old&failBit); d != 0 {
		w.failures.Add(d)
	}
	if d := int64(bits&slowBit>>1) - int64(old&slowBit>>1); d != 0 {
		w.slow.Add(d)
	}
}

func (w *countWindow) counts() windowCounts {
	c := windowCounts{calls: int64(min(w.next.Load(), w.size))}
	// While writers are between their swap and their add, a total can be
	// briefly off by the number of writers in flight; clamp it.
	c.failures = clamp(w.failures.Load(), c.calls)
	c.slow = clamp(w.slow.Load(), c.calls)
	return c
}

// timeWindow holds the outcomes of the last n buckets of width nanoseconds,
// lock-free. Each bucket has three counters (calls, failures, slow calls), and
// each counter is one 64-bit word: the bucket's tag (its index since the
// breaker's clock began, mod 2^32) in the high half and the count in the low
// half. A writer that finds an older tag in its slot starts the count afresh
// with a compare-and-swap, so expiring a bucket needs no lock and no sweeper;
// a reader counts only the words whose tag falls inside the window.
//
// Tags wrap after 2^32 buckets (49 days at the smallest width, 1ms), so a
// bucket left untouched for exactly a multiple of that would count again for
// one window; counts saturate near 2^32-2^16 per bucket.
type timeWindow struct {
	width int64 // nanoseconds per bucket
	n     int64
	words []atomic.Uint64 // calls, failures, slow for bucket 0, then bucket 1, ...
	// last is the bucket of the latest outcome and its slot index, packed by
	// packHint, so that outcomes in the same bucket need no division. Any
	// value is only a hint: add checks it against t.
	last atomic.Uint64
}

// hintBits is the width of the bucket number in a packed hint; the slot
// index (below maxWindowBuckets) sits above it. A bucket number of a time
// at or after the breaker's start, at least 1ms wide, is below 2^44 for 2^63
// nanoseconds.
const hintBits = 44

func packHint(b, i int64) uint64 { return uint64(b) | uint64(i)<<hintBits }

func newTimeWindow(window time.Duration, buckets int) *timeWindow {
	return &timeWindow{
		width: int64(window) / int64(buckets),
		n:     int64(buckets),
		words: make([]atomic.Uint64, 3*buckets),
	}
}

// add records one outcome that ended at t on the breaker's clock.
func (w *timeWindow) add(t int64, bits uint32) {
	h := w.last.Load()
	b, i := int64(h&(1<<hintBits-1)), int64(h>>hintBits)
	if lo := b * w.width; t < lo || t-lo >= w.width {
		b = floorDiv(t, w.width)
		i = 3 * (b - floorDiv(b, w.n)*w.n)
		if b >= 0 && b < 1<<hintBits {
			w.last.Store(packHint(b, i))
		}
	}
	tag := uint32(b)
	bump(&w.words[i], tag)
	if bits&failBit != 0 {
		bump(&w.words[i+1], tag)
	}
	if bits&slowBit != 0 {
		bump(&w.words[i+2], tag)
	}
}

// addMargin keeps bump's plain Add from carrying into the tag: the count
// stays at most this far below 2^32 before the concurrent adders that saw a
// smaller count land.
const addMargin = 1 << 16

// bump adds one to the count in *word for the bucket tagged tag.
func bump(word *atomic.Uint64, tag uint32) {
	// The common case, the bucket is current: a plain add, which cannot fail
	// and retry under contention as a compare-and-swap can. If the bucket
	// expires between the load and the add, the outcome lands in the newer
	// bucket, a bucket late; that is within the window's granularity.
	if old := word.Load(); uint32(old>>32) == tag && uint32(old) != 0 && uint32(old) < math.MaxUint32-addMargin {
		word.Add(1)
		return
	}
	for {
		old := word.Load()
		var next uint64
		switch otag, n := uint32(old>>32), uint32(old); {
		case n == 0 || int32(otag-tag) < 0: // empty, or an expired bucket
			next = uint64(tag)<<32 | 1
		case otag == tag:
			if n >= math.MaxUint32-addMargin {
				return // saturated
			}
			next = old + 1
		default:
			// The slot already holds a newer bucket: this outcome ended
			// more than a window before the latest one and no longer counts.
			return
		}
		if word.CompareAndSwap(old, next) {
			return
		}
	}
}

// counts returns the totals of the window that ends with the bucket holding t.
func (w *timeWindow) counts(t int64) windowCounts {
	cur := uint32(floorDiv(t, w.width))
	var sums [3]int64
	for i := range w.words {
		v := w.words[i].Load()
		if n := uint32(v); n != 0 && cur-uint32(v>>32) < uint32(w.n) {
			sums[i%3] += int64(n)
		}
	}
	return windowCounts{calls: sums[0], failures: clamp(sums[1], sums[0]), slow: clamp(sums[2], sums[0])}
}

// floorDiv returns a/b rounded toward negative infinity, for b > 0; the
// breaker's clock is negative for explicit times before the breaker was made.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func clamp(v, hi int64) int64 { return max(0, min(v, hi)) }
