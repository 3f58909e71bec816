// Command quickstart calls a flaky price service through a holdfast pipeline
// and prints what each policy did: retry rides out a blip, the guard withholds
// a wrong answer, the timeout cuts a hung call, the breaker stops hammering a
// dead service, and the fallback answers meanwhile.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/fallback"
	"github.com/holdfast-dev/holdfast/guard"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

// priceService misbehaves on a script, one entry per call it receives.
type priceService struct {
	calls  int
	script []string // ok, refused, negative, hang, down
}

var errRefused = errors.New("connection refused")

func (s *priceService) price(ctx context.Context) (int, error) {
	step := "down"
	if s.calls < len(s.script) {
		step = s.script[s.calls]
	}
	s.calls++
	switch step {
	case "ok":
		return 42, nil
	case "negative":
		return -1, nil // a wrong answer: prices are positive
	case "hang":
		<-ctx.Done() // a call that never answers on its own
		return 0, ctx.Err()
	case "refused", "down":
		return 0, errRefused
	}
	return 0, fmt.Errorf("unknown step %q", step)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	var events []string
	listener := holdfast.ListenerFunc(func(e holdfast.Event) {
		if e.Kind != holdfast.EventAttempt {
			events = append(events, e.String())
		}
	})

	policies := []holdfast.Policy{
		fallback.MustNew(fallback.Config[int]{Name: "fallback", Value: 40, Listener: listener}), // last known price
		retry.MustNew(retry.Config{
			Name:     "retry",
			Attempts: 3,
			Backoff:  retry.BackoffConfig{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: "none"},
			Listener: listener,
		}),
		breaker.MustNew(breaker.Config{
			Name: "breaker", ConsecutiveFailures: 4, OpenDuration: time.Minute, Listener: listener,
		}),
		timeout.MustNew(timeout.Config{Name: "timeout", Timeout: 50 * time.Millisecond, Wait: true, Listener: listener}),
		guard.MustNew(guard.Config[int]{
			Name: "price-check",
			Check: func(p int) error {
				if p <= 0 {
					return fmt.Errorf("price %d is not positive", p)
				}
				return nil
			},
			Listener: listener,
		}),
	}
	// In the order that suits most calls, whatever order the list has.
	pipeline, err := holdfast.New[int](holdfast.Recommended(policies...)...)
	if err != nil {
		return err
	}
	var order []string
	for _, p := range pipeline.Policies() {
		order = append(order, p.(holdfast.Named).Name())
	}
	fmt.Printf("pipeline, outermost first: %s\n\n", strings.Join(order, " → "))

	svc := &priceService{script: []string{
		"refused", "ok", // call 1: a blip, then an answer
		"negative", "ok", // call 2: a wrong answer, withheld and retried
		"hang", "ok", // call 3: a hung call, cut by the timeout
		// calls 4 and 5: the service is down for good
	}}
	for i := 1; i <= 5; i++ {
		events = events[:0]
		before := svc.calls
		price, err := pipeline.Get(context.Background(), svc.price)
		result := fmt.Sprintf("price %d", price)
		if err != nil {
			result = "error: " + err.Error()
		}
		fmt.Printf("call %d: %s  (%d call(s) reached the service)\n", i, result, svc.calls-before)
		for _, e := range events {
			fmt.Printf("    %s\n", e)
		}
	}
	fmt.Println("\nThe service saw", svc.calls, "calls for 5 requests; every request got an answer.")
	return nil
}
