package upstream

// LeastRequest is the least_request balancer: power of two choices on
// in-flight requests. It draws one candidate in proportion to weight, a
// second in proportion to weight among the rest, and takes the one with fewer
// in-flight requests per unit of weight, the first on a tie. With no load
// every comparison ties, so traffic splits exactly by weight; under load,
// endpoints that answer slowly pile up requests and get fewer new ones.
//
// Build one with [NewLeastRequest]; it is safe for concurrent use.
type LeastRequest struct{ twoChoices }

// NewLeastRequest returns a least_request balancer over eps.
func NewLeastRequest(eps []*Endpoint) *LeastRequest {
	return &LeastRequest{twoChoices{table: newWeightTable(eps), rnd: defaultRand}}
}

// Pick returns the less loaded of two weighted random candidates, or the only
// candidate.
func (b *LeastRequest) Pick(candidates Mask) *Endpoint {
	x, y := b.draw(candidates)
	if y == nil {
		return x
	}
	// in-flight(y)/weight(y) < in-flight(x)/weight(x), without dividing.
	if y.inFlight.Load()*int64(x.weight) < x.inFlight.Load()*int64(y.weight) {
		return y
	}
	return x
}
