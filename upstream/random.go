package upstream

// Random is the random balancer: each pick draws a candidate at random in
// proportion to its weight, blind to load and latency. It needs no shared
// state, so it scales best under contention.
//
// Build one with [NewRandom]; it is safe for concurrent use.
type Random struct {
	table weightTable
	rnd   func() uint64
}

// NewRandom returns a random balancer over eps.
func NewRandom(eps []*Endpoint) *Random {
	return &Random{table: newWeightTable(eps), rnd: defaultRand}
}

// Pick returns a weighted random candidate.
func (b *Random) Pick(candidates Mask) *Endpoint {
	i := b.table.draw(candidates, b.rnd)
	if i < 0 {
		return nil
	}
	return b.table.eps[i]
}
