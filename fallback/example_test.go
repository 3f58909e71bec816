package fallback_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/fallback"
)

func Example() {
	errDown := errors.New("catalog unavailable")
	fb := fallback.MustNew(fallback.Config[[]string]{
		Name:  "catalog",
		Value: []string{"bestseller"},
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			fmt.Println("event:", e)
		}),
	})

	items, err := fb.Get(context.Background(), func(context.Context) ([]string, error) {
		return nil, errDown
	})
	fmt.Println(items, err)

	// A caller that cancels gets no substitute.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = fb.Get(ctx, func(ctx context.Context) ([]string, error) { return nil, ctx.Err() })
	fmt.Println(err)
	// Output:
	// event: catalog: fallback err=catalog unavailable
	// [bestseller] <nil>
	// context canceled
}

func ExampleConfig_func() {
	stale := map[string]int{"apples": 3}
	fb := fallback.MustNew(fallback.Config[int]{
		// Serve the last known answer; only deadline misses are replaced.
		Func: func(ctx context.Context, err error) (int, error) { return stale["apples"], nil },
		On:   fallback.OnErrors(context.DeadlineExceeded),
	})
	n, err := fb.Get(context.Background(), func(context.Context) (int, error) {
		return 0, context.DeadlineExceeded
	})
	fmt.Println(n, err)
	// Output: 3 <nil>
}
