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
type P2CEWMA struct{ twoChoices }

// NewP2CEWMA returns a p2c_ewma balancer over eps, which must all belong to
// one [Upstream] (the balancer reads their latency estimates on its clock).
func NewP2CEWMA(eps []*Endpoint) *P2CEWMA {
	return &P2CEWMA{twoChoices{table: newWeightTable(eps), rnd: defaultRand}}
}

// Pick returns the cheaper of two candidates drawn at random, or the only
// candidate.
func (b *P2CEWMA) Pick(candidates Mask) *Endpoint {
	x, y := b.draw(candidates)
	if y == nil {
		return x // the only candidate, or none
	}
	now := x.u.nanotime()
	if y.cost(now) < x.cost(now) {
		return y
	}
	return x
}

// twoChoices is the skeleton of the power-of-two-choices balancers
// (p2c_ewma, least_request), which differ only in how they compare the two
// candidates it draws.
type twoChoices struct {
	table weightTable
	rnd   func() uint64
}

// draw returns a candidate drawn in proportion to weight and a second drawn
// in proportion to weight among the rest; y is nil when there is only one
// candidate, and both are when there is none.
func (t *twoChoices) draw(candidates Mask) (x, y *Endpoint) {
	i := t.table.draw(candidates, t.rnd)
	if i < 0 {
		return nil, nil
	}
	j := t.table.drawOther(candidates, i, t.rnd)
	if j < 0 {
		return t.table.eps[i], nil
	}
	return t.table.eps[i], t.table.eps[j]
}
