//go:build !race

// Allocation counts are checked without the race detector, which makes
// sync.Pool drop items at random on purpose. `make test` runs these in a
// separate pass without -race.

package holdfast_test

import (
	"context"
	"testing"

	"github.com/holdfast-dev/holdfast"
)

func TestSuccessPathAllocatesNothing(t *testing.T) {
	p := holdfast.MustNew[int](pass{holdfast.KindRetry}, pass{holdfast.KindBreaker}, pass{holdfast.KindBulkhead})
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	p.Get(ctx, fn) // warm the frame pool
	if n := testing.AllocsPerRun(1000, func() { p.Get(ctx, fn) }); n != 0 {
		t.Errorf("allocs per Get = %v; want 0", n)
	}
}
