package retry

import (
	"context"
	"testing"

	"github.com/holdfast-dev/holdfast"
)

func succeed(context.Context) error { return nil }

func getOne(context.Context) (int, error) { return 1, nil }

var allocConfigs = []struct {
	name string
	cfg  Config
}{
	{"plain", Config{}},
	{"budget", Config{BudgetConfig: &BudgetConfig{}}},
	{"listener", Config{Listener: holdfast.ListenerFunc(func(holdfast.Event) {})}},
}

// TestSuccessDoesNotAllocate asserts the promise of Execute's doc: when the
// first attempt succeeds and there is no per-try timeout, nothing allocates.
func TestSuccessDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	for _, c := range allocConfigs {
		r := MustNew(c.cfg)
		if got := testing.AllocsPerRun(100, func() {
			if err := r.Execute(ctx, succeed); err != nil {
				t.Fatal(err)
			}
		}); got != 0 {
			t.Errorf("%s: Execute allocs = %g; want 0", c.name, got)
		}
		if got := testing.AllocsPerRun(100, func() {
			if _, err := Get(ctx, r, getOne); err != nil {
				t.Fatal(err)
			}
		}); got != 0 {
			t.Errorf("%s: Get allocs = %g; want 0", c.name, got)
		}
	}
}

func BenchmarkExecuteSuccess(b *testing.B) {
	ctx := context.Background()
	for _, c := range allocConfigs {
		b.Run(c.name, func(b *testing.B) {
			r := MustNew(c.cfg)
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Execute(ctx, succeed)
			}
		})
	}
}

func BenchmarkGetSuccess(b *testing.B) {
	ctx := context.Background()
	r := MustNew(Config{})
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Get(ctx, r, getOne)
	}
}

func BenchmarkBudget(b *testing.B) {
	bud := MustNewBudget(BudgetConfig{})
	b.Run("RecordRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bud.RecordRequest()
		}
	})
	b.Run("TryRetry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bud.TryRetry()
		}
	})
}
