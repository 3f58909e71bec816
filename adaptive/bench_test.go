package adaptive

import (
	"context"
	"testing"
)

// benchLimiter returns a limiter past its first probe, so that the
// benchmarks measure the steady state.
func benchLimiter(tb testing.TB) *Limiter {
	l := MustNew(Config{ProbeSamples: 1})
	tok, err := l.Acquire()
	if err != nil {
		tb.Fatal(err)
	}
	tok.Done()
	if l.Probing() {
		tb.Fatal("still probing after the first sample")
	}
	return l
}

func BenchmarkExecute(b *testing.B) {
	l := benchLimiter(b)
	ctx := context.Background()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		l.Execute(ctx, next)
	}
}

func BenchmarkAcquireDone(b *testing.B) {
	l := benchLimiter(b)
	b.ReportAllocs()
	for b.Loop() {
		tok, err := l.Acquire()
		if err != nil {
			b.Fatal(err)
		}
		tok.Done()
	}
}

// BenchmarkExecuteParallel measures the shared state under contention.
func BenchmarkExecuteParallel(b *testing.B) {
	l := MustNew(Config{ProbeSamples: 1, Min: 1 << 20, Max: 1 << 20})
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			l.Execute(ctx, next)
		}
	})
}

// BenchmarkReject measures refusing a call, the path taken most under
// overload.
func BenchmarkReject(b *testing.B) {
	l := MustNew(Config{Min: 1, Max: 1})
	if _, err := l.Acquire(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Acquire(); err == nil {
			b.Fatal("admitted over the limit")
		}
	}
}

func TestSuccessPathAllocatesNothing(t *testing.T) {
	l := benchLimiter(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := func(context.Context) error { return nil }
	tests := []struct {
		name string
		f    func()
	}{
		{"Execute", func() { l.Execute(ctx, next) }},
		{"Acquire+Done", func() {
			tok, _ := l.Acquire()
			tok.Done()
		}},
		{"Acquire+Finish(nil)", func() {
			tok, _ := l.Acquire()
			tok.Finish(nil)
		}},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(1000, tt.f); got != 0 {
			t.Errorf("%s: allocs per run = %v; want 0", tt.name, got)
		}
	}
}
