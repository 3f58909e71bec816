package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/bulkhead"
)

func Example() {
	b := bulkhead.MustNew(bulkhead.Config{
		Name:         "inventory",
		Limit:        1,
		Queue:        0,
		QueueTimeout: 100 * time.Millisecond,
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			fmt.Println("event:", e.Kind, e.Reason)
		}),
	})
	ctx := context.Background()

	err := b.Execute(ctx, func(ctx context.Context) error {
		fmt.Println("in flight:", b.InFlight())
		// A second call while the only slot is taken is refused at once.
		err := b.Execute(ctx, func(context.Context) error { return nil })
		fmt.Println("nested call full:", errors.Is(err, bulkhead.ErrFull))
		fmt.Println(err)
		return nil
	})
	fmt.Println("first call:", err, "- in flight now:", b.InFlight())
	// Output:
	// in flight: 1
	// event: rejected overloaded
	// nested call full: true
	// bulkhead: full: all 1 slots taken
	// first call: <nil> - in flight now: 0
}

// The proxy holds a slot across a request with Acquire and Release.
func ExampleBulkhead_Acquire() {
	b := bulkhead.MustNew(bulkhead.Config{Limit: 2, Queue: 10, QueueTimeout: 50 * time.Millisecond})
	ctx := context.Background()

	if err := b.Acquire(ctx); err != nil {
		var fe *bulkhead.FullError
		if errors.As(err, &fe) {
			fmt.Println("reply 503, reason", fe.Reason)
		}
		return
	}
	defer b.Release()
	fmt.Printf("serving: %d of %d slots in use, %d queued\n", b.InFlight(), b.Limit(), b.Queued())
	// Output:
	// serving: 1 of 2 slots in use, 0 queued
}
