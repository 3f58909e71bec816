package adaptive_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/adaptive"
)

func Example() {
	lim := adaptive.MustNew(adaptive.Config{
		Name: "search",
		Min:  2,
		Max:  100,
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			if e.Kind == holdfast.EventRejected {
				fmt.Println("event:", e.Kind, e.Reason)
			}
		}),
	})
	// Until it has measured the dependency's no-load latency, the limiter
	// admits Min calls at a time.
	fmt.Println("limit:", lim.Limit(), "probing:", lim.Probing())

	ctx := context.Background()
	err := lim.Execute(ctx, func(ctx context.Context) error {
		return lim.Execute(ctx, func(ctx context.Context) error {
			// Two calls are in flight: a third is refused at once.
			err := lim.Execute(ctx, func(context.Context) error { return nil })
			fmt.Println("third call limited:", errors.Is(err, adaptive.ErrLimited))
			fmt.Println(err)
			return nil
		})
	})
	fmt.Println("outer calls:", err, "- in flight now:", lim.InFlight())
	// Output:
	// limit: 2 probing: true
	// event: rejected overloaded
	// third call limited: true
	// adaptive: concurrency limit reached: 2 in flight, limit 2
	// outer calls: <nil> - in flight now: 0
}

// The proxy admits a request with Acquire and reports how it ended with
// its Token.
func ExampleLimiter_Acquire() {
	lim := adaptive.MustNew(adaptive.Config{})

	tok, err := lim.Acquire()
	if err != nil {
		fmt.Println("reply 503:", err)
		return
	}
	status := 200 // forward the request...
	switch {
	case status == 503 || status == 504:
		tok.Drop() // the upstream is overloaded
	case status >= 500:
		tok.Ignore() // a failure that says nothing about load
	default:
		tok.Done() // its latency teaches the limiter
	}
	fmt.Println("in flight:", lim.InFlight())
	// Output:
	// in flight: 0
}

// Shed keeps room for critical calls: with 10 calls in flight under a
// limit of 16, a default call (allowed 8 slots) and a sheddable one (4)
// are refused while a critical one is admitted.
func ExampleShed() {
	for _, p := range []adaptive.Priority{adaptive.PrioritySheddable, adaptive.PriorityDefault, adaptive.PriorityCritical} {
		fmt.Printf("%s: shed %v\n", p, adaptive.Shed(p, adaptive.PriorityCritical, 10, 16, false))
	}
	// With only default calls, nothing is shed before the limit itself.
	fmt.Println("default alone: shed", adaptive.Shed(adaptive.PriorityDefault, adaptive.PriorityDefault, 10, 16, false))
	// While a P0 burns, sheddable calls are refused at once.
	fmt.Println("sheddable, burning: shed", adaptive.Shed(adaptive.PrioritySheddable, adaptive.PriorityCritical, 0, 16, true))
	// Output:
	// sheddable: shed true
	// default: shed true
	// critical: shed false
	// default alone: shed false
	// sheddable, burning: shed true
}
