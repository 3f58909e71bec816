package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
)

func Example() {
	cb := breaker.MustNew(breaker.Config{
		Name:                "inventory",
		ConsecutiveFailures: 3,
		OpenDuration:        time.Minute,
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			if e.Kind == holdfast.EventStateChange {
				fmt.Printf("%s: %s -> %s (%s)\n", e.Policy, e.From, e.To, e.Reason)
			}
		}),
	})
	down := errors.New("connection refused")
	ctx := context.Background()
	for range 4 {
		_, err := breaker.Get(ctx, cb, func(context.Context) (int, error) { return 0, down })
		if errors.Is(err, breaker.ErrOpen) {
			wait, _ := holdfast.RetryAfter(err)
			fmt.Printf("refused without calling; retry in about %v\n", wait.Round(time.Minute))
		}
	}
	fmt.Println("state:", cb.State())
	// Output:
	// inventory: closed -> open (consecutive_failures)
	// refused without calling; retry in about 1m0s
	// state: open
}

// The proxy's two-phase API with explicit times: the caller runs the request,
// classifies the response itself and reports how long it took.
func ExampleBreaker_AllowAt() {
	cb := breaker.MustNew(breaker.Config{
		Name:             "catalog",
		Window:           10 * time.Second,
		MinimumRequests:  4,
		FailureRate:      0.5,
		HalfOpenRequests: 1,
		OpenDuration:     30 * time.Second,
	})
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, status := range []int{200, 503, 200, 502} {
		permit, err := cb.AllowAt(now)
		if err != nil {
			fmt.Println(err)
			continue
		}
		permit.Record(status < 500, 20*time.Millisecond)
		now = now.Add(time.Second)
	}
	c := cb.CountsAt(now)
	fmt.Printf("%s, open for %v more\n", c.State, c.Remaining.Round(time.Second))

	_, err := cb.AllowAt(now) // the last failure ended at 12:00:03.020
	fmt.Println(err)

	now = now.Add(c.Remaining)
	permit, err := cb.AllowAt(now) // the open time is over: one probe
	fmt.Println("probe admitted:", err == nil)
	permit.Record(true, 15*time.Millisecond)
	fmt.Println(cb.StateAt(now))
	// Output:
	// open, open for 29s more
	// breaker: catalog is open; retry in 29.02s
	// probe admitted: true
	// closed
}

func ExampleBreaker_ForceOpen() {
	cb := breaker.MustNew(breaker.Config{Name: "payments"})
	cb.ForceOpen() // maintenance: refuse everything until Reset
	err := cb.Execute(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err)
	cb.Reset()
	fmt.Println(cb.State())
	// Output:
	// breaker: payments is forced open
	// closed
}
