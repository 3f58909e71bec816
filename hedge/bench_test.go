package hedge

import (
	"context"
	"testing"
	"time"
)

// BenchmarkExecuteNoHedge is the common case: the first attempt answers
// before the delay. The attempt runs on a goroutine of its own (so that a
// hedge could win without waiting for it), which costs a few allocations.
func BenchmarkExecuteNoHedge(b *testing.B) {
	h := MustNew(Config{BudgetPercent: 100})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Execute(ctx, next)
	}
}

// BenchmarkExecuteDirect is a call the budget cannot hedge: it runs on the
// caller's goroutine.
func BenchmarkExecuteDirect(b *testing.B) {
	h := MustNew(Config{})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		h.budget.tokens.Store(0)
		_ = h.Execute(ctx, next)
	}
}

// BenchmarkGetNoHedgePercentile adds recording latencies to the common case.
func BenchmarkGetNoHedgePercentile(b *testing.B) {
	h := MustNew(Config{Percentile: 0.95, MinDelay: 50 * time.Millisecond, BudgetPercent: 100})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Get(ctx, h, fn)
	}
}

func TestDirectCallDoesNotAllocate(t *testing.T) {
	h := MustNew(Config{})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	got := testing.AllocsPerRun(100, func() {
		h.budget.tokens.Store(0)
		_ = h.Execute(ctx, next)
	})
	if got != 0 {
		t.Errorf("direct Execute allocs = %v; want 0", got)
	}
}
