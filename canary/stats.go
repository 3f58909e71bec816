package canary

import (
	"math"
	"slices"
)

// normalSurvival is P(Z > z) for a standard normal Z.
func normalSurvival(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// ProportionTest compares the failure rates of two samples: failA of nA
// against failB of nB. It returns z, the two-proportion z statistic with a
// pooled variance (positive when B fails more often), and p, the one-sided
// p-value of B failing more often than A. With no events on either side, or
// no variance (every call failed on both, or none did), z is 0 and p is 1:
// no evidence of a difference.
func ProportionTest(failA, nA, failB, nB int) (z, p float64) {
	if nA <= 0 || nB <= 0 {
		return 0, 1
	}
	pa, pb := float64(failA)/float64(nA), float64(failB)/float64(nB)
	pooled := float64(failA+failB) / float64(nA+nB)
	se := math.Sqrt(pooled * (1 - pooled) * (1/float64(nA) + 1/float64(nB)))
	if se == 0 {
		return 0, 1
	}
	z = (pb - pa) / se
	return z, normalSurvival(z)
}

// MannWhitney compares two samples by ranks (the Mann-Whitney U test, also
// called Wilcoxon rank-sum, as Kayenta judges latency). It returns u, the U
// statistic of b (how many of the pairs (a, b) have b above a, ties counting
// a half), z, its normal approximation with the tie correction and a
// continuity correction (positive when b tends to be larger), and p, the
// one-sided p-value of b being stochastically larger than a. An empty
// sample, or samples whose values are all equal, give z 0 and p 1. The
// samples are not modified.
func MannWhitney(a, b []float64) (u, z, p float64) {
	na, nb := len(a), len(b)
	if na == 0 || nb == 0 {
		return 0, 0, 1
	}
	type obs struct {
		v   float64
		inB bool
	}
	all := make([]obs, 0, na+nb)
	for _, v := range a {
		all = append(all, obs{v: v})
	}
	for _, v := range b {
		all = append(all, obs{v: v, inB: true})
	}
	slices.SortFunc(all, func(x, y obs) int {
		switch {
		case x.v < y.v:
			return -1
		case x.v > y.v:
			return 1
		}
		return 0
	})
	n := float64(na + nb)
	var rankB, ties float64
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		// Ranks i+1..j, averaged over the tie.
		avg := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			if all[k].inB {
				rankB += avg
			}
		}
		if t := float64(j - i); t > 1 {
			ties += t*t*t - t
		}
		i = j
	}
	fa, fb := float64(na), float64(nb)
	u = rankB - fb*(fb+1)/2
	mean := fa * fb / 2
	variance := fa * fb / 12 * ((n + 1) - ties/(n*(n-1)))
	if variance <= 0 {
		return u, 0, 1
	}
	d := u - mean
	// Continuity correction: half a step towards the mean.
	switch {
	case d > 0.5:
		d -= 0.5
	case d < -0.5:
		d += 0.5
	default:
		d = 0
	}
	z = d / math.Sqrt(variance)
	return u, z, normalSurvival(z)
}

// quantile returns the q-quantile of sorted values (nearest rank), or 0 for
// none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
