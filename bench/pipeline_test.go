package bench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fsbreaker "github.com/failsafe-go/failsafe-go/circuitbreaker"
	fsratelimiter "github.com/failsafe-go/failsafe-go/ratelimiter"
	fsretry "github.com/failsafe-go/failsafe-go/retrypolicy"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

// The pipelines compose the same five policies in the same order, outermost
// first: retry (3 attempts), circuit breaker (trip at 50% after 20 calls, in
// a 10 s time window of 10 buckets on both sides), rate limiter (a rate far
// above what the benchmark reaches, so every call passes), bulkhead (100
// slots) and a 1s timeout. The call always succeeds: this is the price of
// the success path, which every request pays.
//
// failsafe-go's timeout runs the call on the caller's goroutine and waits for
// it, which holdfast's timeout does with Wait set: that is the like-for-like
// row. holdfast's default timeout returns at the deadline even when the call
// ignores cancellation, which costs a goroutine per call; it has its own row,
// for context (failsafe-go has no such timeout).

type timeoutMode int

const (
	noTimeout timeoutMode = iota
	waitTimeout
	abandonTimeout
)

var pipelineCases = []struct {
	name string
	mode timeoutMode
}{
	{"4-policies-no-timeout", noTimeout},
	{"5-policies", waitTimeout},
	{"context-5-policies-abandoning-timeout", abandonTimeout},
}

func holdfastPipeline(tb testing.TB, mode timeoutMode) *holdfast.Pipeline[int] {
	tb.Helper()
	policies := []holdfast.Policy{
		retry.MustNew(retry.Config{Attempts: 3}),
		breaker.MustNew(breaker.Config{FailureRate: tripRate, MinimumRequests: tripMinCalls, Window: timeWindow}),
		ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 1e9, Burst: 1 << 20}),
		bulkhead.MustNew(bulkhead.Config{Limit: 100}),
	}
	if mode != noTimeout {
		policies = append(policies, timeout.MustNew(timeout.Config{Timeout: time.Second, Wait: mode == waitTimeout}))
	}
	p, err := holdfast.New[int](policies...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func failsafeExecutor(mode timeoutMode) failsafe.Executor[int] {
	policies := []failsafe.Policy[int]{
		fsretry.NewBuilder[int]().WithMaxAttempts(3).Build(),
		fsbreaker.NewBuilder[int]().WithFailureRateThreshold(tripRate, tripMinCalls, timeWindow).Build(),
		fsratelimiter.NewBurstyBuilder[int](1<<30, time.Second).Build(),
		fsbulkhead.NewBuilder[int](100).Build(),
	}
	if mode != noTimeout {
		policies = append(policies, fstimeout.New[int](time.Second))
	}
	return failsafe.With[int](policies...)
}

func work(context.Context) (int, error) { return 1, nil }

func BenchmarkPipeline(b *testing.B) {
	for _, tc := range pipelineCases {
		b.Run(tc.name+"/holdfast", func(b *testing.B) {
			p := holdfastPipeline(b, tc.mode)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Get(ctx, work); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/failsafe-go", func(b *testing.B) {
			ex := failsafeExecutor(tc.mode)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ex.Get(func() (int, error) { return 1, nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPipelineParallel(b *testing.B) {
	for _, tc := range pipelineCases {
		b.Run(tc.name+"/holdfast", func(b *testing.B) {
			p := holdfastPipeline(b, tc.mode)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p.Get(ctx, work)
				}
			})
		})
		b.Run(tc.name+"/failsafe-go", func(b *testing.B) {
			ex := failsafeExecutor(tc.mode)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ex.Get(func() (int, error) { return 1, nil })
				}
			})
		})
	}
}
