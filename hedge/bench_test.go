package hedge

import (
	"context"
	"testing"
)

// BenchmarkExecuteNoHedge is the common case: the first attempt answers
// before the delay. It runs the attempt on a goroutine, which costs a few
// allocations.
func BenchmarkExecuteNoHedge(b *testing.B) {
	h := MustNew(Config{})
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
	h := MustNew(Config{BudgetPercent: 0.01, BudgetBurst: 1})
	h.budget.spend()
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Execute(ctx, next)
	}
}

func BenchmarkGetNoHedgePercentile(b *testing.B) {
	h := MustNew(Config{Percentile: 0.95})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Get(ctx, h, fn)
	}
}
