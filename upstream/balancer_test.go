package upstream

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// weighted returns configs with the given weights, all in priority 0.
func weighted(ws ...int) []EndpointConfig {
	eps := addrs(len(ws))
	for i, w := range ws {
		eps[i].Weight = w
	}
	return eps
}

// counts picks n times from u with exclude and counts picks per index.
func counts(t *testing.T, u *Upstream, n int, exclude Mask) []int {
	t.Helper()
	got := make([]int, len(u.eps))
	for range n {
		e, err := u.Pick(exclude)
		if err != nil {
			t.Fatalf("Pick: %v", err)
		}
		got[e.index]++
	}
	return got
}

// checkShares fails t unless each count is within 5 standard deviations of
// its weight's share of n. The source is seeded, so the test is
// deterministic; the bound documents how close "respects weights" is.
func checkShares(t *testing.T, got []int, weights []int, n int) {
	t.Helper()
	total := 0
	for _, w := range weights {
		total += w
	}
	for i, w := range weights {
		p := float64(w) / float64(total)
		want := p * float64(n)
		sd := math.Sqrt(float64(n) * p * (1 - p))
		if math.Abs(float64(got[i])-want) > 5*sd {
			t.Errorf("endpoint %d (weight %d): got %d picks; want %.0f ± %.0f", i, w, got[i], want, 5*sd)
		}
	}
}

func TestWeightedDistribution(t *testing.T) {
	const n = 40_000
	tests := []struct {
		balancer BalancerName
		weights  []int
	}{
		{BalancerRandom, []int{1, 1, 1}},
		{BalancerRandom, []int{1, 2, 3, 4}},
		{BalancerRandom, []int{100, 1}},
		// No request is in flight, so every comparison ties and goes to
		// the first draw: least_request splits exactly by weight.
		{BalancerLeastRequest, []int{1, 1, 1}},
		{BalancerLeastRequest, []int{1, 2, 3, 4}},
		{BalancerLeastRequest, []int{5, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.balancer, tt.weights), func(t *testing.T) {
			u := newTest(t, Config{Endpoints: weighted(tt.weights...), Balancer: tt.balancer}, seeded(42))
			checkShares(t, counts(t, u, n, Mask{}), tt.weights, n)
		})
	}
}

// TestWeightedDistributionSubset checks the weighted draw over a candidate
// subset, which takes the scan path rather than the precomputed table.
func TestWeightedDistributionSubset(t *testing.T) {
	const n = 20_000
	tests := []struct {
		weights []int
		exclude int
	}{
		{[]int{1, 7, 2, 3}, 1},       // the first draw usually lands on a candidate
		{[]int{1, 200, 2, 3}, 1},     // it rarely does: the candidates are scanned
		{[]int{5, 5, 5, 5, 5}, 0},    // uniform weights
		{[]int{9, 1, 1, 1, 1, 1}, 0}, // both paths
	}
	for _, b := range []BalancerName{BalancerRandom, BalancerLeastRequest, BalancerP2CEWMA} {
		for _, tt := range tests {
			t.Run(fmt.Sprint(b, tt.weights), func(t *testing.T) {
				u := newTest(t, Config{Endpoints: weighted(tt.weights...), Balancer: b}, seeded(7))
				var ex Mask
				ex.Add(tt.exclude)
				got := counts(t, u, n, ex)
				if got[tt.exclude] != 0 {
					t.Errorf("excluded endpoint got %d picks; want 0", got[tt.exclude])
				}
				// No requests in flight and no samples: every comparison
				// ties and goes to the first, weighted, draw.
				checkShares(t, slices.Delete(slices.Clone(got), tt.exclude, tt.exclude+1),
					slices.Delete(slices.Clone(tt.weights), tt.exclude, tt.exclude+1), n)
			})
		}
	}
}

func TestRoundRobinSmoothOrder(t *testing.T) {
	tests := []struct {
		weights []int
		exclude []int
		want    string // one letter per pick, a = endpoint 0
	}{
		{[]int{1, 1, 1}, nil, "abcabcabc"},
		{[]int{5, 1, 1}, nil, "aabacaa" + "aabacaa"}, // nginx's example
		{[]int{2, 1}, nil, "aba" + "aba"},
		{[]int{1, 1, 1}, []int{1}, "acacac"},
		{[]int{3, 3, 1}, []int{0}, "bbcbbbcb"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.weights, tt.exclude), func(t *testing.T) {
			u := newTest(t, Config{Endpoints: weighted(tt.weights...), Balancer: BalancerRoundRobin}, seeded(1))
			var ex Mask
			for _, i := range tt.exclude {
				ex.Add(i)
			}
			got := ""
			for range len(tt.want) {
				e, err := u.Pick(ex)
				if err != nil {
					t.Fatal(err)
				}
				got += string(rune('a' + e.index))
			}
			if got != tt.want {
				t.Errorf("picks = %s; want %s", got, tt.want)
			}
		})
	}
}

func TestRoundRobinExactShares(t *testing.T) {
	weights := []int{1, 2, 3, 4}
	u := newTest(t, Config{Endpoints: weighted(weights...), Balancer: BalancerRoundRobin}, seeded(1))
	got := counts(t, u, 10*1000, Mask{}) // 1000 full cycles of total weight 10
	for i, w := range weights {
		if got[i] != w*1000 {
			t.Errorf("endpoint %d: %d picks; want %d", i, got[i], w*1000)
		}
	}
}

func TestLeastRequestPrefersIdle(t *testing.T) {
	u := newTest(t, Config{Endpoints: weighted(1, 1, 1), Balancer: BalancerLeastRequest}, seeded(3))
	for range 10 {
		u.eps[0].Start() // endpoint 0 is busy
	}
	const n = 30_000
	got := counts(t, u, n, Mask{})
	// The two choices always differ, so the busy endpoint always loses.
	if got[0] != 0 {
		t.Errorf("busy endpoint: %d picks; want 0", got[0])
	}
	checkShares(t, got[1:], []int{1, 1}, n)

	// Weight scales capacity: 4 in flight at weight 4 is less loaded than 2
	// at weight 1.
	v := newTest(t, Config{Endpoints: weighted(4, 1), Balancer: BalancerLeastRequest}, seeded(3))
	for range 4 {
		v.eps[0].Start()
	}
	v.eps[1].Start()
	v.eps[1].Start()
	if got := counts(t, v, n, Mask{}); got[1] != 0 {
		t.Errorf("more loaded light endpoint: %d picks; want 0", got[1])
	}
	// At equal load per weight, ties go to the first, weighted, draw.
	v.eps[1].Done(0, Canceled)
	checkShares(t, counts(t, v, n, Mask{}), []int{4, 1}, n)
}

func TestP2CEWMAAvoidsSlowEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Endpoints: addrs(3), Balancer: BalancerP2CEWMA}, seeded(5))
		succeed(u.eps[0], 1, 10*time.Millisecond)
		succeed(u.eps[1], 1, 10*time.Millisecond)
		succeed(u.eps[2], 1, 500*time.Millisecond)
		got := counts(t, u, 30_000, Mask{})
		// Two distinct draws out of three: the slow one always loses.
		if got[2] != 0 {
			t.Errorf("slow endpoint: %d picks; want 0", got[2])
		}
		checkShares(t, got[:2], []int{1, 1}, 30_000)

		// Load counts too: 60 requests in flight at 10ms cost more than one
		// idle endpoint at 500ms.
		for range 60 {
			u.eps[0].Start()
			u.eps[1].Start()
		}
		// It wins whenever it is one of the two choices: 2/3 of picks.
		checkShares(t, counts(t, u, 30_000, Mask{}), []int{1, 1, 4}, 30_000)
	})
}

func TestP2CEWMAWeights(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Endpoints: weighted(3, 1, 2), Balancer: BalancerP2CEWMA}, seeded(9))
		// Equal costs: ties go to the first choice, drawn by weight.
		checkShares(t, counts(t, u, 30_000, Mask{}), []int{3, 1, 2}, 30_000)
		for _, e := range u.eps {
			succeed(e, 1, 50*time.Millisecond)
		}
		checkShares(t, counts(t, u, 30_000, Mask{}), []int{3, 1, 2}, 30_000)
	})
}

func TestEWMA(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Endpoints: addrs(1)}, seeded(1))
		e := u.eps[0]
		near := func(what string, got time.Duration, want float64) {
			t.Helper()
			if math.Abs(float64(got)-want) > 1 { // float rounding, not a time tolerance
				t.Errorf("%s: EWMA() = %v; want %v", what, got, time.Duration(want))
			}
		}
		near("no sample", e.EWMA(), float64(defaultRTT))
		succeed(e, 1, 100*time.Millisecond)
		near("first sample", e.EWMA(), float64(100*time.Millisecond))
		succeed(e, 1, 500*time.Millisecond)
		near("peak", e.EWMA(), float64(500*time.Millisecond))
		fail(e, 1) // 1ms failure
		near("fast failure", e.EWMA(), float64(500*time.Millisecond))

		time.Sleep(ewmaDecay)
		near("idle decay", e.EWMA(), 500e6*math.Exp(-1))
		succeed(e, 1, 100*time.Millisecond)
		// Stored value 500ms, sample 100ms, weight of the old value e^-1.
		near("decayed sample", e.EWMA(), 500e6*math.Exp(-1)+100e6*(1-math.Exp(-1)))
		now := u.nanotime()
		if got, want := e.cost(now), e.ewma(now); got != want {
			t.Errorf("cost with nothing in flight = %v; want %v", got, want)
		}
		e.Start()
		if got, want := e.cost(now), 2*e.ewma(now); got != want {
			t.Errorf("cost with one in flight = %v; want %v", got, want)
		}
		e.Done(0, Canceled)
		if e.InFlight() != 0 {
			t.Errorf("InFlight() = %d; want 0", e.InFlight())
		}
	})
}

func TestFirstFailureNotBelowDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Endpoints: addrs(1)}, seeded(1))
		fail(u.eps[0], 1)
		if got := u.eps[0].EWMA(); got != defaultRTT {
			t.Errorf("EWMA() after a 1ms failure = %v; want %v", got, defaultRTT)
		}
	})
}

func TestBalancersRespectCandidates(t *testing.T) {
	for _, b := range []BalancerName{BalancerP2CEWMA, BalancerRoundRobin, BalancerLeastRequest, BalancerRandom} {
		t.Run(string(b), func(t *testing.T) {
			u := newTest(t, Config{Endpoints: weighted(1, 2, 3, 4, 5), Balancer: b}, seeded(11))
			var ex Mask
			ex.Add(0)
			ex.Add(3)
			got := counts(t, u, 5000, ex)
			if got[0] != 0 || got[3] != 0 {
				t.Errorf("excluded endpoints got %d and %d picks; want 0", got[0], got[3])
			}
			for _, i := range []int{1, 2, 4} {
				if got[i] == 0 {
					t.Errorf("endpoint %d never picked", i)
				}
			}
			if e := u.bal.Pick(Mask{}); e != nil {
				t.Errorf("Pick(empty) = %v; want nil", e)
			}
			var one Mask
			one.Add(2)
			if e := u.bal.Pick(one); e != u.eps[2] {
				t.Errorf("Pick({2}) = %v; want %v", e, u.eps[2])
			}
		})
	}
}

func TestStandaloneConstructors(t *testing.T) {
	u := newTest(t, Config{Endpoints: addrs(3)}, seeded(1))
	eps := u.Endpoints()
	all := firstN(3)
	for _, b := range []Balancer{NewP2CEWMA(eps), NewRoundRobin(eps), NewLeastRequest(eps), NewRandom(eps)} {
		if e := b.Pick(all); e == nil {
			t.Errorf("%T.Pick(all) = nil; want an endpoint", b)
		}
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, b := range []BalancerName{BalancerP2CEWMA, BalancerRoundRobin, BalancerLeastRequest, BalancerRandom} {
		t.Run(string(b), func(t *testing.T) {
			u := newTest(t, Config{Endpoints: weighted(1, 2, 3, 4), Balancer: b}, defaultRand)
			var ex Mask
			ex.Add(1)
			allocs := testing.AllocsPerRun(1000, func() {
				e, _ := u.Pick(ex)
				e.Start()
				e.Done(time.Millisecond, Success)
			})
			if allocs != 0 {
				t.Errorf("Pick+Start+Done: %v allocs; want 0", allocs)
			}
			ctx := t.Context()
			allocs = testing.AllocsPerRun(1000, func() {
				_, _ = Do(ctx, u, ex, func(_ context.Context, e *Endpoint) (int, error) { return e.index, nil })
			})
			if allocs != 0 {
				t.Errorf("Do: %v allocs; want 0", allocs)
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	for _, n := range []int{3, 16, 200} {
		for _, name := range []BalancerName{BalancerP2CEWMA, BalancerRoundRobin, BalancerLeastRequest, BalancerRandom} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				eps := addrs(n)
				for i := range eps {
					eps[i].Weight = 1 + i%3
				}
				u := newTest(b, Config{Endpoints: eps, Balancer: name}, defaultRand)
				var ex Mask
				ex.Add(0)
				b.ReportAllocs()
				for b.Loop() {
					_, _ = u.Pick(ex)
				}
			})
		}
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, name := range []BalancerName{BalancerP2CEWMA, BalancerRoundRobin, BalancerLeastRequest, BalancerRandom} {
		b.Run(string(name), func(b *testing.B) {
			u := newTest(b, Config{Endpoints: addrs(8), Balancer: name}, defaultRand)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e, _ := u.Pick(Mask{})
					e.Start()
					e.Done(time.Millisecond, Success)
				}
			})
		})
	}
}

func BenchmarkStartDone(b *testing.B) {
	u := newTest(b, Config{Endpoints: addrs(3), OutlierDetection: OutlierConfig{Deadline: time.Second}}, defaultRand)
	e := u.eps[0]
	b.ReportAllocs()
	for b.Loop() {
		e.Start()
		e.Done(time.Millisecond, Success)
	}
}
