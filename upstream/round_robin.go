package upstream

import (
	"math/bits"
	"sync"
)

// RoundRobin is the round_robin balancer: nginx's smooth weighted round
// robin. Each pick adds every candidate's weight to its running score, takes
// the candidate with the highest score and subtracts the candidates' total
// weight from it. Weights 5, 1, 1 give the order a a b a c a a, interleaved
// rather than in bursts, and the sequence is deterministic. Endpoints outside
// the candidates keep their scores, so an endpoint that comes back resumes
// its place.
//
// Build one with [NewRoundRobin]; it is safe for concurrent use.
type RoundRobin struct {
	eps []*Endpoint

	// mu guards score.
	mu    sync.Mutex
	score []int64
}

// NewRoundRobin returns a round_robin balancer over eps.
func NewRoundRobin(eps []*Endpoint) *RoundRobin {
	return &RoundRobin{eps: eps, score: make([]int64, len(eps))}
}

// Pick returns the next candidate in smooth weighted order.
func (b *RoundRobin) Pick(candidates Mask) *Endpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	best := -1
	var total int64
	for wi, word := range candidates.w {
		for ; word != 0; word &= word - 1 {
			i := wi<<6 + bits.TrailingZeros64(word)
			if i >= len(b.eps) {
				break
			}
			w := int64(b.eps[i].weight)
			b.score[i] += w
			total += w
			if best < 0 || b.score[i] > b.score[best] {
				best = i
			}
		}
	}
	if best < 0 {
		return nil
	}
	b.score[best] -= total
	return b.eps[best]
}
