package guard_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/guard"
)

type quote struct {
	Symbol string
	Price  float64
}

func Example() {
	g := guard.MustNew(guard.Config[quote]{
		Name: "quotes",
		Check: func(q quote) error {
			if q.Price <= 0 {
				return fmt.Errorf("price %v not positive", q.Price)
			}
			return nil
		},
		Violations: 2,
		Window:     time.Minute,
		Probe:      func(context.Context) error { return nil }, // e.g. ask the pricing service for a known quote
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			if e.Kind == holdfast.EventSilenced {
				fmt.Println("event:", e)
			}
		}),
	})
	defer g.Close()

	broken := func(context.Context) (quote, error) { return quote{"ACME", -1}, nil }
	for range 3 {
		q, err := g.Get(context.Background(), broken)
		fmt.Printf("%+v %v %v %v\n", q, err, errors.Is(err, guard.ErrInvariant), errors.Is(err, guard.ErrSilenced))
	}
	fmt.Println(g.State())
	// Output:
	// {Symbol: Price:0} guard: quotes: invariant violated: price -1 not positive true false
	// event: quotes: silenced err=guard: quotes: invariant violated: price -1 not positive
	// {Symbol: Price:0} guard: quotes: invariant violated: price -1 not positive true false
	// {Symbol: Price:0} guard: quotes: silenced after: price -1 not positive false true
	// silenced
}
