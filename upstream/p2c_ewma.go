package upstream

// P2CEWMA is the p2c_ewma balancer, after Linkerd's: it draws two distinct
// candidates uniformly at random and takes the cheaper, where an endpoint's
// cost is its peak-EWMA latency times (in-flight requests + 1), divided by
// its weight. Slow endpoints and busy endpoints both look expensive, so load
// follows the fastest answers without herding onto one endpoint, and an
// endpoint whose estimate has decayed while it was idle gets probed again.
// See [Endpoint.EWMA] for how the latency estimate moves.
//
// Build one with [NewP2CEWMA]; it is safe for concurrent use.
type P2CEWMA struct {
	eps []*Endpoint
	rnd func() uint64
}

// NewP2CEWMA returns a p2c_ewma balancer over eps, which must all belong to
// one [Upstream] (the balancer reads their latency estimates on its clock).
func NewP2CEWMA(eps []*Endpoint) *P2CEWMA {
	return &P2CEWMA{eps: eps, rnd: defaultRand}
}

// Pick returns the cheaper of two candidates drawn at random, or the only
// candidate.
func (b *P2CEWMA) Pick(candidates Mask) *Endpoint {
	n := candidates.Len()
	switch n {
	case 0:
		return nil
	case 1:
		return b.eps[candidates.nth(0)]
	}
	i := below(b.rnd(), n)
	j := below(b.rnd(), n-1)
	if j >= i {
		j++ // distinct from i, still uniform
	}
	x, y := b.eps[candidates.nth(i)], b.eps[candidates.nth(j)]
	now := x.u.nanotime()
	// Compare cost(x)/weight(x) <= cost(y)/weight(y) without dividing.
	if x.cost(now)*float64(y.weight) <= y.cost(now)*float64(x.weight) {
		return x
	}
	return y
}
