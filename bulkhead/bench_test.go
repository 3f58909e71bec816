package bulkhead

import (
	"context"
	"testing"
)

func BenchmarkExecute(b *testing.B) {
	bh := MustNew(Config{})
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		bh.Execute(ctx, next)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	bh := MustNew(Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := bh.Acquire(ctx); err != nil {
			b.Fatal(err)
		}
		bh.Release()
	}
}

// BenchmarkExecuteParallel measures the shared lock under contention, with
// the limit high enough that no call queues.
func BenchmarkExecuteParallel(b *testing.B) {
	bh := MustNew(Config{Limit: 1 << 20})
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			bh.Execute(ctx, next)
		}
	})
}

func TestSuccessPathAllocatesNothing(t *testing.T) {
	bh := MustNew(Config{Limit: 4, Queue: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := func(context.Context) error { return nil }
	tests := []struct {
		name string
		f    func()
	}{
		{"Execute", func() { bh.Execute(ctx, next) }},
		{"Acquire+Release", func() {
			if bh.Acquire(ctx) == nil {
				bh.Release()
			}
		}},
		{"Get", func() { Get(ctx, bh, func(context.Context) (int, error) { return 1, nil }) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(1000, tt.f); got != 0 {
			t.Errorf("%s: allocs per run = %v; want 0", tt.name, got)
		}
	}
}
