package upstream

import "math/bits"

// MaxEndpoints is the most endpoints one [Upstream] may have. It bounds
// [Mask], which is a fixed-size value so that passing and combining masks on
// every request never allocates.
const MaxEndpoints = 256

const maskWords = MaxEndpoints / 64

// Mask is a set of endpoint indexes (see [Endpoint.Index]), used to tell
// [Upstream.Pick] which endpoints a request has already tried. The zero value
// is the empty set. A Mask is a small value: copy it freely; it is not safe
// for concurrent mutation.
//
// A retry loop keeps one Mask per request:
//
//	var tried upstream.Mask
//	for attempt := 0; attempt < 3; attempt++ {
//		ep, err := u.Pick(tried)
//		if err != nil {
//			break
//		}
//		tried.Add(ep.Index())
//		...
//	}
type Mask struct {
	w [maskWords]uint64
}

// Add puts index i into m. Indexes outside [0, MaxEndpoints) are ignored.
func (m *Mask) Add(i int) {
	if uint(i) < MaxEndpoints {
		m.w[i>>6] |= 1 << (uint(i) & 63)
	}
}

// Remove takes index i out of m.
func (m *Mask) Remove(i int) {
	if uint(i) < MaxEndpoints {
		m.w[i>>6] &^= 1 << (uint(i) & 63)
	}
}

// Has reports whether index i is in m.
func (m Mask) Has(i int) bool {
	return uint(i) < MaxEndpoints && m.w[i>>6]&(1<<(uint(i)&63)) != 0
}

// Len returns the number of indexes in m.
func (m Mask) Len() int {
	n := 0
	for _, w := range m.w {
		n += bits.OnesCount64(w)
	}
	return n
}

// Empty reports whether m holds no index.
func (m Mask) Empty() bool {
	return m.w[0]|m.w[1]|m.w[2]|m.w[3] == 0
}

// andNot returns the indexes of m that are not in x.
func (m Mask) andNot(x Mask) Mask {
	for i := range m.w {
		m.w[i] &^= x.w[i]
	}
	return m
}

// and returns the indexes in both m and x.
func (m Mask) and(x Mask) Mask {
	for i := range m.w {
		m.w[i] &= x.w[i]
	}
	return m
}

// nth returns the n-th smallest index in m (n counts from 0), or -1 when m has
// n or fewer indexes.
func (m Mask) nth(n int) int {
	for wi, w := range m.w {
		c := bits.OnesCount64(w)
		if n >= c {
			n -= c
			continue
		}
		for ; n > 0; n-- {
			w &= w - 1 // drop the lowest set bit
		}
		return wi<<6 + bits.TrailingZeros64(w)
	}
	return -1
}

// next returns the smallest index in m that is >= i, or -1 when there is none.
// Iterate with: for i := m.next(0); i >= 0; i = m.next(i + 1).
func (m Mask) next(i int) int {
	if i < 0 {
		i = 0
	}
	for wi := i >> 6; wi < maskWords; wi++ {
		w := m.w[wi]
		if wi == i>>6 {
			w &= ^uint64(0) << (uint(i) & 63)
		}
		if w != 0 {
			return wi<<6 + bits.TrailingZeros64(w)
		}
	}
	return -1
}
