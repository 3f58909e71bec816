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

// A Go service quiesces and reports on its own internal invariant: the
// ledger's books must balance. After two unbalanced results the guard
// silences the ledger (callers get ErrSilenced at once, never a wrong
// total), and OnReport says which invariant broke and when, for a log, a
// status page or a webhook; a probe re-admits it once the books balance.
func ExampleConfig_onReport() {
	balanced := func(total int) error {
		if total != 0 {
			return fmt.Errorf("books off by %d", total)
		}
		return nil
	}
	reports := make(chan guard.Report, 2)
	g := guard.MustNew(guard.Config[int]{
		Name:       "ledger",
		Check:      balanced,
		Violations: 2,
		Window:     time.Minute,
		OnReport:   func(r guard.Report) { reports <- r }, // must not block: a goroutine sends it on
	})
	defer g.Close()

	for range 3 {
		_, err := g.Get(context.Background(), func(context.Context) (int, error) { return 7, nil })
		fmt.Println(err)
	}
	r := <-reports
	fmt.Printf("report: %s %s after %d violations: %v\n", r.Policy, r.State, len(r.Violations), r.Cause)
	// Output:
	// guard: ledger: invariant violated: books off by 7
	// guard: ledger: invariant violated: books off by 7
	// guard: ledger: silenced after: books off by 7
	// report: ledger silenced after 2 violations: books off by 7
}
