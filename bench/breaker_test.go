package bench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/sony/gobreaker/v2"
)

// The breakers below are configured alike where the libraries allow it: trip
// when half of the recent calls fail, after at least 20 calls. holdfast and
// failsafe-go keep the last 100 calls; gobreaker counts since its last state
// change (its cheapest setting; its time buckets cost more). Only the success
// path of a closed breaker is measured: it is what every call pays.

func newHoldfast(tb testing.TB, cfg breaker.Config) *breaker.Breaker {
	tb.Helper()
	cfg.FailureRate, cfg.MinimumRequests = 0.5, 20
	b, err := breaker.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func gobreakerSettings() gobreaker.Settings {
	return gobreaker.Settings{
		Name: "bench",
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.Requests >= 20 && c.TotalFailures*2 >= c.Requests
		},
	}
}

func newFailsafe() circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureRateThreshold(0.5, 20, 10*time.Second).
		Build()
}

func newFailsafeCount() circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureThresholdRatio(50, 100).
		Build()
}

// breakerCases are the success paths compared. The first three are each
// library's everyday call; the others are the variants a proxy or a
// latency-sensitive caller would pick.
func breakerCases(tb testing.TB) []struct {
	name string
	call func() error
} {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	okNoCtx := func() error { return nil }
	okT := func() (struct{}, error) { return struct{}{}, nil }

	hf := newHoldfast(tb, breaker.Config{})
	hfTime := newHoldfast(tb, breaker.Config{Window: 10 * time.Second})
	gb := gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings())
	gb2 := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreakerSettings())
	fsCount := newFailsafeCount()
	fsExec := failsafe.With[any](fsCount)
	fsTime := failsafe.With[any](newFailsafe())

	return []struct {
		name string
		call func() error
	}{
		// holdfast: count window of 100 calls (the default).
		{"holdfast", func() error { return hf.Execute(ctx, ok) }},
		{"gobreaker", func() error { _, err := gb.Execute(okT); return err }},
		// failsafe-go: count window of 100 calls, through its executor.
		{"failsafe-go", func() error { return fsExec.Run(okNoCtx) }},

		// Two-phase APIs: admit, then report the outcome.
		{"holdfast-permit", func() error {
			p, err := hf.Allow()
			if err != nil {
				return err
			}
			p.Done(nil)
			return nil
		}},
		{"gobreaker-twostep", func() error {
			done, err := gb2.Allow()
			if err != nil {
				return err
			}
			done(nil)
			return nil
		}},
		{"failsafe-go-permit", func() error {
			if !fsCount.TryAcquirePermit() {
				return circuitbreaker.ErrOpen
			}
			fsCount.RecordSuccess()
			return nil
		}},

		// Time windows of 10s, which need the clock on every call.
		{"holdfast-time", func() error { return hfTime.Execute(ctx, ok) }},
		{"failsafe-go-time", func() error { return fsTime.Run(okNoCtx) }},
	}
}

// BenchmarkBreaker measures one successful call through a closed breaker.
func BenchmarkBreaker(b *testing.B) {
	for _, c := range breakerCases(b) {
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

// BenchmarkBreakerParallel is BenchmarkBreaker with every P calling one
// shared breaker at once, as a proxy's request goroutines do.
func BenchmarkBreakerParallel(b *testing.B) {
	for _, c := range breakerCases(b) {
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

// TestBreakersStayClosed guards the benchmarks: each case must succeed, so
// the numbers measure the success path and not a rejection.
func TestBreakersStayClosed(t *testing.T) {
	for _, c := range breakerCases(t) {
		for i := range 1000 {
			if err := c.call(); err != nil {
				t.Fatalf("%s: call %d = %v; want nil", c.name, i, err)
			}
		}
	}
}
