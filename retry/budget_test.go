package retry

import (
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestBudgetSequence(t *testing.T) {
	// floor 1 retry per window, plus half the requests; buckets of 1s.
	cfg := BudgetConfig{Ratio: 0.5, MinPerSecond: 0.1, Window: 10 * time.Second}
	type op struct {
		at    time.Duration // after t0
		retry bool          // TryRetryAt, else RecordRequestAt
		want  bool          // TryRetryAt's answer
	}
	ops := []op{
		{at: 0, retry: true, want: true},                 // the floor
		{at: 0, retry: true, want: false},                // 2 > 0.5×0 + 1
		{at: time.Second},                                // requests in bucket 1
		{at: time.Second},                                //
		{at: time.Second, retry: true, want: true},       // 2 ≤ 0.5×2 + 1
		{at: time.Second, retry: true, want: false},      // 3 > 2
		{at: 10500 * ms, retry: true, want: false},       // bucket 0's retry still counts at the edge
		{at: 11 * time.Second, retry: true, want: false}, // bucket 0 gone, bucket 1's requests no longer count
		{at: 12 * time.Second, retry: true, want: true},  // both old retries gone: the floor again
		{at: 12 * time.Second, retry: true, want: false},
		{at: time.Hour, retry: true, want: true}, // a long gap empties every bucket
	}
	b := MustNewBudget(cfg)
	for i, o := range ops {
		now := t0.Add(o.at)
		if !o.retry {
			b.RecordRequestAt(now)
			continue
		}
		if got := b.TryRetryAt(now); got != o.want {
			t.Errorf("op %d: TryRetryAt(t0+%s) = %v; want %v", i, o.at, got, o.want)
		}
	}
}

func TestBudgetStats(t *testing.T) {
	b := MustNewBudget(BudgetConfig{Ratio: 0.2, MinPerSecond: 1, Window: 10 * time.Second})
	for range 50 {
		b.RecordRequestAt(t0)
	}
	for range 3 {
		b.TryRetryAt(t0)
	}
	tests := []struct {
		at   time.Duration
		want BudgetStats
	}{
		{0, BudgetStats{Requests: 50, Retries: 3, Remaining: 17}}, // 0.2×50 + 10 − 3
		{9 * time.Second, BudgetStats{Requests: 50, Retries: 3, Remaining: 17}},
		{10 * time.Second, BudgetStats{Requests: 0, Retries: 3, Remaining: 7}},
		{11 * time.Second, BudgetStats{Requests: 0, Retries: 0, Remaining: 10}},
	}
	for _, tt := range tests {
		if got := b.StatsAt(t0.Add(tt.at)); got != tt.want {
			t.Errorf("StatsAt(t0+%s) = %+v; want %+v", tt.at, got, tt.want)
		}
	}
}

func TestBudgetZeroValueUsesDefaults(t *testing.T) {
	var b Budget
	if got, want := b.Config(), (BudgetConfig{Ratio: 0.2, MinPerSecond: 10, Window: 10 * time.Second}); got != want {
		t.Errorf("zero Budget Config() = %+v; want %+v", got, want)
	}
	var z Budget
	granted := 0
	for range 150 {
		if z.TryRetryAt(t0) {
			granted++
		}
	}
	if granted != 100 { // min_per_second 10 × 10s
		t.Errorf("zero Budget granted %d retries with no requests; want 100", granted)
	}
}

func TestBudgetTimeGoingBackwardsCountsAsLatest(t *testing.T) {
	b := MustNewBudget(BudgetConfig{Ratio: 1, MinPerSecond: 0.1, Window: 10 * time.Second})
	b.RecordRequestAt(t0.Add(5 * time.Second))
	b.RecordRequestAt(t0) // before the first time seen: counts in the newest bucket
	if got := b.StatsAt(t0.Add(5 * time.Second)); got.Requests != 2 {
		t.Errorf("Requests = %d; want 2", got.Requests)
	}
	if got := b.StatsAt(t0.Add(15 * time.Second)); got.Requests != 0 {
		t.Errorf("Requests a window later = %d; want 0", got.Requests)
	}
}

// TestBudgetInvariant drives budgets with random sequences of requests and
// retries at explicit times and checks, at every granted retry at time t, that
// the exact sliding window (t−W, t] holds no more than
// ratio × requests + min_per_second × W retries. It also checks the other
// side, so a budget that refused everything would fail: every refusal at t is
// justified by a window only one bucket wider, (t−W−W/10, t] for retries and
// [t−W+W/10, t] for requests.
func TestBudgetInvariant(t *testing.T) {
	configs := []BudgetConfig{
		{Ratio: 0.2, MinPerSecond: 10, Window: 10 * time.Second},
		{Ratio: 0.5, MinPerSecond: 0.1, Window: 10 * time.Second},
		{Ratio: 1, MinPerSecond: 0.5, Window: time.Second},
		{Ratio: 0.01, MinPerSecond: 3, Window: 3 * time.Second},
		{Ratio: 0.3, MinPerSecond: 1e-9, Window: 7 * ms},
	}
	// count returns how many of times (sorted) fall in (from, to], or in
	// [from, to] when fromInclusive.
	count := func(times []time.Time, from, to time.Time, fromInclusive bool) int {
		lo := sort.Search(len(times), func(i int) bool {
			return times[i].After(from) || (fromInclusive && times[i].Equal(from))
		})
		hi := sort.Search(len(times), func(i int) bool { return times[i].After(to) })
		return hi - lo
	}
	for ci, cfg := range configs {
		granted, refused := 0, 0
		for seed := range uint64(20) {
			src := rand.New(rand.NewPCG(seed, uint64(ci)))
			b := MustNewBudget(cfg)
			w, width := cfg.Window, cfg.Window/budgetBuckets
			floor := cfg.MinPerSecond * w.Seconds()
			now := t0.Add(time.Duration(src.Int64N(int64(time.Hour))))
			var reqs, rets []time.Time                                          // requests and granted retries
			retryShare := src.Float64()                                         // how often an op is a retry in this run
			step := max(1, int64(width)/[]int64{1, 10, 100, 1000}[src.IntN(4)]) // how dense ops are in this run
			for range 3000 {
				switch p := src.Float64(); {
				case p < 0.5: // same instant
				case p < 0.95:
					now = now.Add(time.Duration(src.Int64N(step)))
				case p < 0.995:
					now = now.Add(time.Duration(src.Int64N(int64(w))))
				default:
					now = now.Add(2 * w)
				}
				if src.Float64() >= retryShare {
					b.RecordRequestAt(now)
					reqs = append(reqs, now)
					continue
				}
				if b.TryRetryAt(now) {
					granted++
					rets = append(rets, now)
					retries := count(rets, now.Add(-w), now, false)
					requests := count(reqs, now.Add(-w), now, false)
					if float64(retries) > cfg.Ratio*float64(requests)+floor {
						t.Fatalf("config %+v seed %d: at %s, window (t−W, t] holds %d retries for %d requests; want ≤ %g×%d + %g",
							cfg, seed, now.Sub(t0), retries, requests, cfg.Ratio, requests, floor)
					}
				} else {
					refused++
					retries := count(rets, now.Add(-w-width), now, false)
					requests := count(reqs, now.Add(-w+width), now, true)
					if float64(retries+1) <= cfg.Ratio*float64(requests)+floor {
						t.Fatalf("config %+v seed %d: at %s, refused a retry although (t−W−W/10, t] holds only %d retries for %d requests in [t−W+W/10, t]",
							cfg, seed, now.Sub(t0), retries, requests)
					}
				}
			}
		}
		if granted == 0 || refused == 0 {
			t.Errorf("config %+v: %d retries granted, %d refused; want some of each", cfg, granted, refused)
		}
		t.Logf("config %+v: %d retries granted, %d refused", cfg, granted, refused)
	}
}

// TestBudgetConcurrent shares one budget between goroutines; under synctest
// time stands still, so the bound applies to the totals exactly.
func TestBudgetConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNewBudget(BudgetConfig{Ratio: 0.1, MinPerSecond: 1, Window: 10 * time.Second})
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted := 0
		for range 8 {
			wg.Go(func() {
				for range 500 {
					b.RecordRequest()
					if b.TryRetry() {
						mu.Lock()
						granted++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		// No grant can exceed 0.1 × 4000 + 10 = 410. Each goroutine asks for a
		// retry after each request, so grants keep up with the allowance to
		// within one, and the last ask, which sees all 4000 requests, takes
		// the count to exactly 410.
		if s := b.Stats(); granted != 410 || s.Retries != 410 || s.Requests != 4000 {
			t.Errorf("granted %d, Stats() = %+v; want 410 granted of 4000 requests", granted, s)
		}
	})
}
