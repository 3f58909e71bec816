package timeout

import (
	"context"
	"testing"
	"time"
)

// BenchmarkExecute measures the cost of the policy around a call that
// returns at once: a context with a deadline, a goroutine and a channel.
func BenchmarkExecute(b *testing.B) {
	p := MustNew(Config{Timeout: time.Minute})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Execute(ctx, fn)
	}
}
