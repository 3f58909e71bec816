package slo

import "time"

// widths are the bucket widths a window may be read from, finest first.
var widths = [...]time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, time.Hour}

// bucketsPerWindow is how many buckets a window spans at least, when its
// width is not the finest: the oldest bucket, counted in part, then errs by
// at most 1/60 of the window for events spread unevenly inside it.
const bucketsPerWindow = 60

// widthFor returns the index in widths of the width window w is read from:
// the largest with at least bucketsPerWindow buckets in w, or the finest.
func widthFor(w time.Duration) int {
	for i := len(widths) - 1; i > 0; i-- {
		if w >= bucketsPerWindow*widths[i] {
			return i
		}
	}
	return 0
}

// bucket counts the events of one time slot.
type bucket struct {
	slot        int64 // which slot of its width the counts are of; stale unless it is the slot looked for
	good, total uint64
}

// ring is the buckets of one width, indexed by slot modulo their number.
type ring struct {
	width   int64 // nanoseconds
	buckets []bucket
}

// newRing returns a ring of the given width that can read windows up to
// longest: a window spans at most longest/width + 2 slots, the partial
// ones at either end included.
func newRing(width, longest time.Duration) *ring {
	n := int((longest+width-1)/width) + 2
	r := &ring{width: int64(width), buckets: make([]bucket, n)}
	for i := range r.buckets {
		r.buckets[i].slot = -1 << 63 // no slot: an empty ring reads as nothing even at the epoch
	}
	return r
}

// slotOf returns the slot holding time t (nanoseconds since the epoch),
// rounding down for times before it.
func (r *ring) slotOf(t int64) int64 {
	s := t / r.width
	if t < 0 && t%r.width != 0 {
		s--
	}
	return s
}

func (r *ring) at(slot int64) *bucket {
	i := slot % int64(len(r.buckets))
	if i < 0 {
		i += int64(len(r.buckets))
	}
	return &r.buckets[i]
}

// add counts one event at t. An event older than what its bucket now holds
// (the clock stepped back by more than the ring) is dropped.
func (r *ring) add(t int64, good bool) {
	slot := r.slotOf(t)
	b := r.at(slot)
	switch {
	case b.slot == slot:
	case b.slot < slot:
		*b = bucket{slot: slot}
	default:
		return
	}
	b.total++
	if good {
		b.good++
	}
}

// sum returns the events in the window of length w ending at end (both in
// nanoseconds): every bucket from the one holding end-w to the one holding
// end, the oldest in proportion to the part of it inside the window.
func (r *ring) sum(end, w int64) (good, total float64) {
	start := end - w
	first, last := r.slotOf(start), r.slotOf(end)
	for s := first; s <= last; s++ {
		b := r.at(s)
		if b.slot != s {
			continue
		}
		frac := 1.0
		if s == first {
			frac = float64((s+1)*r.width-start) / float64(r.width)
		}
		good += frac * float64(b.good)
		total += frac * float64(b.total)
	}
	return good, total
}
