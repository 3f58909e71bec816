package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/sony/gobreaker/v2"
)

// Every breaker here trips when half of the calls in its window fail, after
// at least 20 calls, and only the success path of a closed breaker is
// measured: it is what every call pays.
//
// The headline pairs use the same window kind and size on both sides:
//
//   - time-10s: a sliding time window of 10 s in 10 buckets of 1 s (holdfast's
//     Window 10s; gobreaker's Interval 10s with BucketPeriod 1s, its rolling
//     window; failsafe-go's 10 s failure-rate period, which it splits into 10
//     buckets);
//   - count-100: the last 100 calls (holdfast's WindowSize 100; failsafe-go's
//     failure ratio over 100 calls). gobreaker has no count window, so it has
//     no row here.
//
// BenchmarkBreakerContext holds the rows that do not pair like with like:
// gobreaker's cheaper windows (counts since its last state change, or a
// fixed 10 s interval that clears all counts at once) and the two-phase APIs.

const (
	tripRate     = 0.5
	tripMinCalls = 20
	timeWindow   = 10 * time.Second
	countWindow  = 100
)

func newHoldfast(tb testing.TB, cfg breaker.Config) *breaker.Breaker {
	tb.Helper()
	cfg.FailureRate, cfg.MinimumRequests = tripRate, tripMinCalls
	b, err := breaker.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// gobreakerSettings returns gobreaker's settings for a window of interval in
// buckets of bucket (a rolling window), of interval cleared at once (bucket
// 0), or of all calls since the last state change (both 0).
func gobreakerSettings(interval, bucket time.Duration) gobreaker.Settings {
	return gobreaker.Settings{
		Name:         "bench",
		Interval:     interval,
		BucketPeriod: bucket,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.Requests >= tripMinCalls && float64(c.TotalFailures) >= tripRate*float64(c.Requests)
		},
	}
}

func newFailsafeTime() circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureRateThreshold(tripRate, tripMinCalls, timeWindow).
		Build()
}

func newFailsafeCount() circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureThresholdRatio(countWindow*tripRate, countWindow).
		Build()
}

type breakerCase struct {
	name string
	call func() error
}

var (
	okCtx   = func(context.Context) error { return nil }
	okNoCtx = func() error { return nil }
	okT     = func() (struct{}, error) { return struct{}{}, nil }
)

// breakerPairs are the like-for-like success paths: each library's everyday
// call, one group per window.
func breakerPairs(tb testing.TB) []breakerCase {
	ctx := context.Background()
	hfTime := newHoldfast(tb, breaker.Config{Window: timeWindow})
	gbTime := gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings(timeWindow, time.Second))
	fsTime := failsafe.With[any](newFailsafeTime())
	hfCount := newHoldfast(tb, breaker.Config{WindowSize: countWindow})
	fsCount := failsafe.With[any](newFailsafeCount())
	return []breakerCase{
		{"time-10s/holdfast", func() error { return hfTime.Execute(ctx, okCtx) }},
		{"time-10s/gobreaker", func() error { _, err := gbTime.Execute(okT); return err }},
		{"time-10s/failsafe-go", func() error { return fsTime.Run(okNoCtx) }},
		{"count-100/holdfast", func() error { return hfCount.Execute(ctx, okCtx) }},
		{"count-100/failsafe-go", func() error { return fsCount.Run(okNoCtx) }},
	}
}

// breakerContext are the rows that are not like for like, shown for context.
func breakerContext(tb testing.TB) []breakerCase {
	ctx := context.Background()
	hfCount := newHoldfast(tb, breaker.Config{WindowSize: countWindow})
	hfTime := newHoldfast(tb, breaker.Config{Window: timeWindow})
	gbCumulative := gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings(0, 0))
	gbFixed := gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings(timeWindow, 0))
	gb2 := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreakerSettings(timeWindow, time.Second))
	fsCount := newFailsafeCount()
	permit := func(b *breaker.Breaker) func() error {
		return func() error {
			p, err := b.Allow()
			if err != nil {
				return err
			}
			p.Done(nil)
			return nil
		}
	}
	return []breakerCase{
		// holdfast's count window against gobreaker's counts since its last
		// state change, and its fixed interval: gobreaker's cheapest windows.
		{"holdfast-count-100", func() error { return hfCount.Execute(ctx, okCtx) }},
		{"gobreaker-cumulative", func() error { _, err := gbCumulative.Execute(okT); return err }},
		{"gobreaker-fixed-10s", func() error { _, err := gbFixed.Execute(okT); return err }},
		// Two-phase APIs: admit, then report the outcome.
		{"holdfast-permit-count-100", permit(hfCount)},
		{"holdfast-permit-time-10s", permit(hfTime)},
		{"gobreaker-twostep-time-10s", func() error {
			done, err := gb2.Allow()
			if err != nil {
				return err
			}
			done(nil)
			return nil
		}},
		{"failsafe-go-permit-count-100", func() error {
			if !fsCount.TryAcquirePermit() {
				return circuitbreaker.ErrOpen
			}
			fsCount.RecordSuccess()
			return nil
		}},
	}
}

func runBreakers(b *testing.B, cases []breakerCase) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func runBreakersParallel(b *testing.B, cases []breakerCase) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBreaker measures one successful call through a closed breaker,
// like for like.
func BenchmarkBreaker(b *testing.B) { runBreakers(b, breakerPairs(b)) }

// BenchmarkBreakerContext is BenchmarkBreaker for the rows that are not like
// for like.
func BenchmarkBreakerContext(b *testing.B) { runBreakers(b, breakerContext(b)) }

// BenchmarkBreakerParallel is BenchmarkBreaker with every P calling one
// shared breaker at once, as a proxy's request goroutines do.
func BenchmarkBreakerParallel(b *testing.B) { runBreakersParallel(b, breakerPairs(b)) }

// TestBreakersStayClosed guards the benchmarks: each case must succeed, so
// the numbers measure the success path and not a rejection.
func TestBreakersStayClosed(t *testing.T) {
	for _, c := range append(breakerPairs(t), breakerContext(t)...) {
		for i := range 1000 {
			if err := c.call(); err != nil {
				t.Fatalf("%s: call %d = %v; want nil", c.name, i, err)
			}
		}
	}
}

// TestBreakersTrip guards the like-for-like claim: configured alike, the
// paired breakers open on the same call of the same sequence (10 successes,
// then failures: the 20th call has 10 failures of 20).
func TestBreakersTrip(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	hf := newHoldfast(t, breaker.Config{Window: timeWindow})
	gb := gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings(timeWindow, time.Second))
	fs := failsafe.With[any](newFailsafeTime())
	calls := []struct {
		name string
		call func(fail bool) error
	}{
		{"holdfast", func(fail bool) error {
			return hf.Execute(ctx, func(context.Context) error {
				if fail {
					return boom
				}
				return nil
			})
		}},
		{"gobreaker", func(fail bool) error {
			_, err := gb.Execute(func() (struct{}, error) {
				if fail {
					return struct{}{}, boom
				}
				return struct{}{}, nil
			})
			return err
		}},
		{"failsafe-go", func(fail bool) error {
			return fs.Run(func() error {
				if fail {
					return boom
				}
				return nil
			})
		}},
	}
	for _, c := range calls {
		opened := 0
		for i := 1; i <= 30 && opened == 0; i++ {
			if err := c.call(i > 10); err != nil && err != boom {
				opened = i
			}
		}
		// Call 20 trips the breaker; call 21 is the first refused.
		if opened != 21 {
			t.Errorf("%s: first refused call = %d; want 21", c.name, opened)
		}
	}
}
