package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/retry"
)

func Example() {
	r := retry.MustNew(retry.Config{
		Attempts: 3,
		Backoff:  retry.BackoffConfig{Base: time.Millisecond, Max: 5 * time.Millisecond},
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			if e.Kind == holdfast.EventRetry {
				fmt.Printf("attempt %d failed (%v); retrying\n", e.Attempt, e.Err)
			}
		}),
	})
	calls := 0
	page, err := retry.Get(context.Background(), r, func(ctx context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", errors.New("connection reset")
		}
		return "catalog page", nil
	})
	fmt.Println(page, err)
	// Output:
	// attempt 1 failed (connection reset); retrying
	// attempt 2 failed (connection reset); retrying
	// catalog page <nil>
}

func ExampleBudget() {
	b := retry.MustNewBudget(retry.BudgetConfig{Ratio: 0.2, MinPerSecond: 0.1, Window: 10 * time.Second})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 10 {
		b.RecordRequestAt(now)
	}
	// 0.2 × 10 requests + 0.1/s × 10s = 3 retries in the window.
	granted := 0
	for range 5 {
		if b.TryRetryAt(now) {
			granted++
		}
	}
	fmt.Println("granted", granted, "of 5")
	fmt.Println("a window later:", b.TryRetryAt(now.Add(11*time.Second)))
	// Output:
	// granted 3 of 5
	// a window later: true
}

func ExampleBackoffConfig_Delay() {
	c := retry.BackoffConfig{Base: 100 * time.Millisecond, Max: time.Second}
	for n := 1; n <= 5; n++ {
		// rnd 1 shows the cap; full jitter draws below it.
		fmt.Println(n, c.Delay(n, 0, 1))
	}
	// Output:
	// 1 100ms
	// 2 200ms
	// 3 400ms
	// 4 800ms
	// 5 1s
}
