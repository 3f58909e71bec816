package ratelimit

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// grant is n tokens used at time t (nanoseconds from some epoch).
type grant struct{ t, n int64 }

// excess returns a description of a window [t1, t2] in which grants use
// more than rate·(t2-t1) + burst tokens, or "" when there is none. It is
// exact: with S the running sum of tokens over grants sorted by time, the
// bound holds for every window iff S_j - rate·t_j - (S_{i-1} - rate·t_i) ≤
// burst for all i ≤ j, which a suffix maximum checks in one pass. With rate
// = p/q per second exactly (every float64 is a fraction), everything is
// scaled by 1e9·q to stay in integers.
func excess(grants []grant, rate float64, burst int64) string {
	g := slices.Clone(grants)
	slices.SortStableFunc(g, func(a, b grant) int { return int(min(max(a.t-b.t, -1), 1)) })
	r := new(big.Rat).SetFloat64(rate)
	p, q := r.Num(), new(big.Int).Mul(r.Denom(), big.NewInt(1e9))
	sum := make([]int64, len(g)+1)
	for i, e := range g {
		sum[i+1] = sum[i] + e.n
	}
	// scaled returns (tokens·1e9·q - p·t).
	scaled := func(tokens, t int64) *big.Int {
		v := new(big.Int).Mul(big.NewInt(tokens), q)
		return v.Sub(v, new(big.Int).Mul(p, big.NewInt(t)))
	}
	limit := new(big.Int).Mul(big.NewInt(burst), q)
	var best *big.Int
	bestJ := 0
	diff := new(big.Int)
	for i := len(g) - 1; i >= 0; i-- {
		if a := scaled(sum[i+1], g[i].t); best == nil || a.Cmp(best) > 0 {
			best, bestJ = a, i
		}
		if diff.Sub(best, scaled(sum[i], g[i].t)).Cmp(limit) > 0 {
			return fmt.Sprintf("%d tokens in [%d, %d] (%v), more than %g/s·T + %d",
				sum[bestJ+1]-sum[i], g[i].t, g[bestJ].t, time.Duration(g[bestJ].t-g[i].t), rate, burst)
		}
	}
	return ""
}

func TestExcessFindsTooManyGrants(t *testing.T) {
	tests := []struct {
		name   string
		grants []grant
		rate   float64
		burst  int64
		want   bool
	}{
		{"burst at once", []grant{{0, 1}, {0, 1}, {0, 1}}, 1, 3, false},
		{"one over burst", []grant{{0, 1}, {0, 1}, {0, 2}}, 1, 3, true},
		{"exactly the rate", []grant{{0, 1}, {1e9, 1}, {2e9, 1}}, 1, 1, false},
		{"one nanosecond early", []grant{{0, 1}, {1e9, 1}, {2e9 - 1, 1}}, 1, 1, true},
		{"burst then rate", []grant{{0, 2}, {5e8, 1}, {1e9, 1}}, 2, 2, false},
		{"unsorted input", []grant{{1e9, 1}, {0, 1}, {1e9 - 1, 1}}, 1, 1, true},
		{"fractional rate", []grant{{0, 1}, {2e9, 1}}, 0.5, 1, false},
		{"fractional rate early", []grant{{0, 1}, {2e9 - 1, 1}}, 0.5, 1, true},
	}
	for _, tt := range tests {
		if got := excess(tt.grants, tt.rate, tt.burst) != ""; got != tt.want {
			t.Errorf("%s: excess found = %v; want %v", tt.name, got, tt.want)
		}
	}
}

var invariantConfigs = []struct {
	rate  float64
	burst int
}{
	{1, 1}, {10, 5}, {100, 200}, {3, 2}, {0.7, 3}, {1e6 / 7, 10}, {1e9, 4},
}

// TestLimiterNeverExceedsRate drives a Limiter with random request times,
// sizes, reservations and cancellations, and checks that the tokens put to
// use (granted requests, and reservations at their time to act unless they
// were given back) never exceed rate·T + burst in any window T.
func TestLimiterNeverExceedsRate(t *testing.T) {
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range invariantConfigs {
		for seed := range uint64(12) {
			name := fmt.Sprintf("rate=%g,burst=%d,seed=%d", c.rate, c.burst, seed)
			l := MustNew(Config{RequestsPerSecond: c.rate, Burst: c.burst})
			rng := rand.New(rand.NewPCG(seed, 11))
			iv, burst := l.g.interval, l.g.burst
			type held struct {
				r *Reservation
				i int // index in used
			}
			var (
				used    []grant
				pending []held
				refused int
				now     = epoch
			)
			for range 1000 {
				now = now.Add(time.Duration(rng.Int64N(2*iv*burst/3 + 1)))
				if rng.IntN(8) == 0 {
					now = now.Add(time.Duration(rng.Int64N(iv + 1))) // and a quiet spell, sometimes
				}
				n := 1 + rng.Int64N(burst)
				switch rng.IntN(6) {
				case 0, 1, 2, 3:
					if l.AllowN(now, int(n)) {
						used = append(used, grant{now.Sub(epoch).Nanoseconds(), n})
					} else {
						refused++
					}
				case 4:
					r := l.ReserveN(now, int(n))
					pending = append(pending, held{r, len(used)})
					used = append(used, grant{r.TimeToAct().Sub(epoch).Nanoseconds(), n})
				case 5:
					if len(pending) == 0 {
						continue
					}
					i := len(pending) - 1
					if rng.IntN(2) == 0 {
						i = rng.IntN(len(pending))
					}
					h := pending[i]
					pending = slices.Delete(pending, i, i+1)
					before := l.tat.Load()
					h.r.CancelAt(now)
					if l.tat.Load() != before {
						used[h.i].n = 0 // given back: never used
					}
				}
			}
			if refused == 0 {
				t.Fatalf("%s: no request was refused; the test does not load the limiter", name)
			}
			if msg := excess(used, c.rate, burst); msg != "" {
				t.Fatalf("%s: %s", name, msg)
			}
		}
	}
}

// TestLimiterNeverExceedsRateConcurrently has goroutines share one virtual
// clock, each reading it and calling AllowAt, so requests reach the limiter
// out of order and race on its CAS; the granted requests must still respect
// rate·T + burst in every window.
func TestLimiterNeverExceedsRateConcurrently(t *testing.T) {
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range invariantConfigs {
		for seed := range uint64(4) {
			name := fmt.Sprintf("rate=%g,burst=%d,seed=%d", c.rate, c.burst, seed)
			l := MustNew(Config{RequestsPerSecond: c.rate, Burst: c.burst})
			iv, burst := l.g.interval, l.g.burst
			var (
				clock   atomic.Int64
				mu      sync.Mutex
				used    []grant
				refused atomic.Int64
				wg      sync.WaitGroup
			)
			for g := range 4 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(seed, uint64(g)))
					var mine []grant
					for range 2000 {
						now := clock.Add(rng.Int64N(iv/2 + 1))
						n := 1 + rng.Int64N(min(burst, 3))
						at := epoch.Add(time.Duration(now))
						if n == 1 && l.AllowAt(at) || n > 1 && l.AllowN(at, int(n)) {
							mine = append(mine, grant{now, n})
						} else {
							refused.Add(1)
						}
					}
					mu.Lock()
					used = append(used, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			if refused.Load() == 0 {
				t.Fatalf("%s: no request was refused; the test does not load the limiter", name)
			}
			if msg := excess(used, c.rate, burst); msg != "" {
				t.Fatalf("%s: %s", name, msg)
			}
		}
	}
}
