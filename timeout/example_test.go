package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast/timeout"
)

func Example() {
	t := timeout.MustNew(timeout.Config{Timeout: 10 * time.Millisecond})
	err := t.Execute(context.Background(), func(ctx context.Context) error {
		select {
		case <-time.After(time.Second): // a slow dependency
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, timeout.ErrTimeout), errors.Is(err, context.DeadlineExceeded))

	n, err := timeout.Get(context.Background(), t, func(ctx context.Context) (int, error) {
		return 42, nil
	})
	fmt.Println(n, err)
	// Output:
	// timeout: call did not finish within 10ms
	// true true
	// 42 <nil>
}
