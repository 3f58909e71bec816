package loadgen

import (
	"math"
	"time"
)

// Histogram counts durations in log-linear buckets: 32 sub-buckets per power
// of two from 1µs, so a quantile is off by at most about 3%. Memory is fixed
// (about 1,300 buckets) however many values it holds. The zero value is
// empty and ready; it is not safe for concurrent use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	subBits     = 5 // 32 sub-buckets per octave
	octaves     = 40
	histBuckets = octaves << subBits
	histUnit    = time.Microsecond
)

func bucketOf(d time.Duration) int {
	v := uint64(d / histUnit)
	if v < 1<<subBits {
		return int(v)
	}
	exp := 63 - leadingZeros(v) // position of the top bit, >= subBits
	sub := (v >> (exp - subBits)) & (1<<subBits - 1)
	i := (exp-subBits+1)<<subBits | int(sub)
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// lowerBound is the smallest duration in bucket i.
func lowerBound(i int) time.Duration {
	if i < 1<<subBits {
		return time.Duration(i) * histUnit
	}
	exp := i>>subBits + subBits - 1
	sub := uint64(i & (1<<subBits - 1))
	v := (uint64(1)<<subBits | sub) << (exp - subBits)
	return time.Duration(v) * histUnit
}

func leadingZeros(v uint64) int {
	n := 0
	for v&(1<<63) == 0 {
		v <<= 1
		n++
	}
	return n
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count returns how many durations h holds.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest duration recorded.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the average duration, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the duration below which a fraction q of the values fall
// (the bucket's midpoint), or 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = math.Min(math.Max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo := lowerBound(i)
			hi := lowerBound(i + 1)
			if i+1 >= histBuckets {
				hi = h.max
			}
			mid := lo + (hi-lo)/2
			return min(mid, h.max)
		}
	}
	return h.max
}
