package upstream

import (
	"math/bits"
	"math/rand/v2"
)

// Balancer chooses one endpoint among candidates. An [Upstream] builds one
// balancer over all its endpoints and calls Pick with the usable, not yet
// tried endpoints of the priority group taking traffic, so a balancer only
// weighs load; health, ejection, priority and retries are settled before.
//
// Pick must be safe for concurrent use, must not allocate, and gets a
// non-empty candidates mask whose indexes are positions in the endpoint slice
// the balancer was built over; it returns nil only when candidates is empty.
type Balancer interface {
	Pick(candidates Mask) *Endpoint
}

var (
	_ Balancer = (*P2CEWMA)(nil)
	_ Balancer = (*RoundRobin)(nil)
	_ Balancer = (*LeastRequest)(nil)
	_ Balancer = (*Random)(nil)
)

// newBalancer builds the balancer called name over eps. rnd supplies random
// bits and must be safe for concurrent use.
func newBalancer(name BalancerName, eps []*Endpoint, rnd func() uint64) Balancer {
	switch name {
	case BalancerRoundRobin:
		return NewRoundRobin(eps)
	case BalancerLeastRequest:
		b := NewLeastRequest(eps)
		b.rnd = rnd
		return b
	case BalancerRandom:
		b := NewRandom(eps)
		b.rnd = rnd
		return b
	default:
		b := NewP2CEWMA(eps)
		b.rnd = rnd
		return b
	}
}

// below returns a uniform random number in [0, n) from the random bits r,
// by Lemire's multiply-shift: the high word of r*n. n must be positive.
func below(r uint64, n int) int {
	hi, _ := bits.Mul64(r, uint64(n))
	return int(hi)
}

// weightTable draws endpoints at random in proportion to their weights.
type weightTable struct {
	eps     []*Endpoint
	cum     []uint64 // cum[i] is the sum of the weights of eps[0..i]
	uniform bool     // every weight is the same, so draws need no table
}

func newWeightTable(eps []*Endpoint) weightTable {
	t := weightTable{eps: eps, cum: make([]uint64, len(eps)), uniform: true}
	var sum uint64
	for i, e := range eps {
		sum += uint64(e.weight)
		t.cum[i] = sum
		if e.weight != eps[0].weight {
			t.uniform = false
		}
	}
	return t
}

// rejectionTries is how many draws over all endpoints draw makes before it
// scans the candidates instead.
const rejectionTries = 4

// draw returns the index of one candidate drawn with probability
// proportional to its weight, or -1 when candidates is empty. rnd supplies
// the random bits.
func (t *weightTable) draw(candidates Mask, rnd func() uint64) int {
	if t.uniform {
		n := candidates.Len()
		if n == 0 {
			return -1
		}
		return candidates.nth(below(rnd(), n))
	}
	// Rejection sampling: a weighted draw over all endpoints that lands on a
	// candidate is a weighted draw over the candidates. They are usually most
	// endpoints (all but the tried or ejected ones), so the first draw
	// almost always does, in O(log n).
	for range rejectionTries {
		if i := t.drawAll(rnd()); candidates.Has(i) {
			return i
		}
	}
	// The candidates hold little of the weight: scan them.
	total := 0
	for wi, w := range candidates.w {
		for ; w != 0; w &= w - 1 {
			total += t.eps[wi<<6+bits.TrailingZeros64(w)].weight
		}
	}
	if total == 0 {
		return -1
	}
	x := below(rnd(), total)
	for wi, w := range candidates.w {
		for ; w != 0; w &= w - 1 {
			i := wi<<6 + bits.TrailingZeros64(w)
			if x -= t.eps[i].weight; x < 0 {
				return i
			}
		}
	}
	return -1 // unreachable: x < total
}

// drawAll returns the index of an endpoint drawn by weight among all of them,
// using the random bits r.
func (t *weightTable) drawAll(r uint64) int {
	x := uint64(below(r, int(t.cum[len(t.cum)-1])))
	// Binary search for the first cumulative weight above x.
	lo, hi := 0, len(t.cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t.cum[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// drawOther is draw restricted to the candidates other than i, for the second
// choice of a power-of-two-choices balancer. Drawing the first choice by
// weight and the second among the rest keeps both properties that matter:
// the two choices always differ, and when they cost the same and the first
// wins, each endpoint is picked exactly in proportion to its weight.
func (t *weightTable) drawOther(candidates Mask, i int, rnd func() uint64) int {
	candidates.Remove(i)
	return t.draw(candidates, rnd)
}

// defaultRand is the random source of balancers built outside an Upstream:
// the runtime's per-thread generator, which is fast, lock-free and safe for
// concurrent use.
func defaultRand() uint64 { return rand.Uint64() }
