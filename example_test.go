package holdfast_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/fallback"
	"github.com/holdfast-dev/holdfast/retry"
)

// A pipeline of fallback, retry and breaker around a call that fails twice
// and then answers; a listener sees every retry.
func ExampleNew() {
	events := holdfast.ListenerFunc(func(e holdfast.Event) {
		if e.Kind == holdfast.EventRetry {
			fmt.Printf("event: %s retry after attempt %d: %v\n", e.Policy, e.Attempt, e.Err)
		}
	})
	p, err := holdfast.New[string](
		fallback.MustNew(fallback.Config[string]{Value: "cached"}),
		retry.MustNew(retry.Config{
			Attempts: 3,
			Backoff:  retry.BackoffConfig{Base: time.Millisecond, Jitter: "none"},
			Listener: events,
		}),
		breaker.MustNew(breaker.Config{ConsecutiveFailures: 5}),
	)
	if err != nil {
		panic(err)
	}
	calls := 0
	answer, err := p.Get(context.Background(), func(context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", errors.New("connection refused")
		}
		return "fresh", nil
	})
	fmt.Println(answer, err)

	// When every attempt fails, the fallback answers.
	answer, err = p.Get(context.Background(), func(context.Context) (string, error) {
		return "", errors.New("down")
	})
	fmt.Println(answer, err)
	// Output:
	// event: retry retry after attempt 1: connection refused
	// event: retry retry after attempt 2: connection refused
	// fresh <nil>
	// event: retry retry after attempt 1: down
	// event: retry retry after attempt 2: down
	// cached <nil>
}
