package hedge_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/hedge"
)

func Example() {
	h := hedge.MustNew(hedge.Config{
		Delay:    10 * time.Millisecond,
		MaxExtra: 1,
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) { fmt.Println("event:", e) }),
	})

	var replica atomic.Int32
	answer, err := hedge.Get(context.Background(), h, func(ctx context.Context) (string, error) {
		// Attempts run concurrently: shared state needs synchronising.
		if replica.Add(1) == 1 {
			<-ctx.Done() // the first replica hangs until the hedge wins
			return "", ctx.Err()
		}
		return "from replica 2", nil
	})
	fmt.Println(answer, err)
	// Output:
	// event: hedge: hedge attempt=2 delay=10ms
	// from replica 2 <nil>
}
