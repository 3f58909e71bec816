package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBoundsAreMonotonic(t *testing.T) {
	for i := 1; i < histBuckets; i++ {
		if lowerBound(i) <= lowerBound(i-1) {
			t.Fatalf("lowerBound(%d) = %v <= lowerBound(%d) = %v", i, lowerBound(i), i-1, lowerBound(i-1))
		}
		if b := bucketOf(lowerBound(i)); b != i {
			t.Fatalf("bucketOf(lowerBound(%d)) = %d", i, b)
		}
	}
}

func TestQuantileWithinThreePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	for range 100000 {
		d := time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.035 || diff < -0.035 {
			t.Errorf("Quantile(%v) = %v; exact %v (off by %.1f%%)", q, got, exact, diff*100)
		}
	}
	if h.Count() != 100000 {
		t.Errorf("Count = %d; want 100000", h.Count())
	}
}

func TestEmptyAndMerge(t *testing.T) {
	var a, b Histogram
	if a.Quantile(0.99) != 0 || a.Mean() != 0 {
		t.Error("empty histogram should report 0")
	}
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	a.Merge(&b)
	if a.Count() != 2 || a.Max() != 3*time.Millisecond || a.Mean() != 2*time.Millisecond {
		t.Errorf("after merge: count %d max %v mean %v", a.Count(), a.Max(), a.Mean())
	}
}
