package hedge

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencies keeps the most recent latencies of successful attempts and
// publishes their percentile. It is safe for concurrent use: record takes a
// lock, percentile does not.
//
// The sample is held twice, in arrival order (to know which value to evict)
// and sorted (so the percentile is an index): recording costs a binary
// search and a memmove of at most SampleSize durations, and reading costs an
// atomic load.
type latencies struct {
	p          float64
	minSamples int

	// current is the percentile of the sample, or -1 while the sample holds
	// fewer than minSamples latencies.
	current atomic.Int64

	// mu guards ring, next and sorted.
	mu     sync.Mutex
	ring   []time.Duration // arrival order; ring[next] is the oldest once full
	next   int
	sorted []time.Duration // the same latencies, ascending; len is the sample's size
}

func newLatencies(p float64, minSamples, size int) *latencies {
	l := &latencies{
		p:          p,
		minSamples: minSamples,
		ring:       make([]time.Duration, size),
		sorted:     make([]time.Duration, 0, size),
	}
	l.current.Store(-1)
	return l
}

// record adds d to the sample, evicting the oldest latency once it is full.
func (l *latencies) record(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sorted) == len(l.ring) {
		old := l.ring[l.next]
		i, _ := slices.BinarySearch(l.sorted, old)
		l.sorted = slices.Delete(l.sorted, i, i+1)
	}
	l.ring[l.next] = d
	l.next = (l.next + 1) % len(l.ring)
	i, _ := slices.BinarySearch(l.sorted, d)
	l.sorted = slices.Insert(l.sorted, i, d) // within capacity: never allocates
	if n := len(l.sorted); n >= l.minSamples {
		l.current.Store(int64(l.sorted[rank(l.p, n)]))
	}
}

// percentile returns the percentile of the sample, and false while the
// sample is smaller than minSamples.
func (l *latencies) percentile() (time.Duration, bool) {
	c := l.current.Load()
	return time.Duration(c), c >= 0
}

// rank returns the index of the p-th percentile in a sorted sample of n
// values, by the nearest-rank method: the smallest value that at least p of
// the sample does not exceed.
func rank(p float64, n int) int {
	i := int(math.Ceil(p*float64(n))) - 1
	return min(max(i, 0), n-1)
}
