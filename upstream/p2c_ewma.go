package upstream

// P2CEWMA is the p2c_ewma balancer, after Linkerd's: it draws two different
// candidates at random and takes the cheaper, where an endpoint's cost is its
// peak-EWMA latency times (in-flight requests + 1). Slow endpoints and busy
// endpoints both look expensive, so load follows the fastest answers without
// herding onto one endpoint, and an endpoint whose estimate has decayed while
// it was idle gets probed again. See [Endpoint.EWMA] for how the latency
// estimate moves.
//
// Weights act on the draws: the first candidate is drawn in proportion to
// weight and the second in proportion to weight among the rest, and the first
// wins ties, so endpoints that cost the same are picked in proportion to
// their weights, and a heavier endpoint takes part in more comparisons.
//
// Build one with [NewP2CEWMA]; it is safe for concurrent use.
type P2CEWMA struct {
	table weightTable
	rnd   func() uint64
}

// NewP2CEWMA returns a p2c_ewma balancer over eps, which must all belong to
// one [Upstream] (the balancer reads their latency estimates on its clock).
func NewP2CEWMA(eps []*Endpoint) *P2CEWMA {
	return &P2CEWMA{table: newWeightTable(eps), rnd: defaultRand}
}

// Pick returns the cheaper of two candidates drawn at random, or the only
// candidate.
func (b *P2CEWMA) Pick(candidates Mask) *Endpoint {
	i := b.table.draw(candidates, b.rnd)
	if i < 0 {
		return nil
	}
	x := b.table.eps[i]
	j := b.table.drawOther(candidates, i, b.rnd)
	if j < 0 {
		return x // the only candidate
	}
	y := b.table.eps[j]
	now := x.u.nanotime()
	if y.cost(now) < x.cost(now) {
		return y
	}
	return x
}
