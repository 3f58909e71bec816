// Package bulkhead caps how many calls run at once, so that one slow
// dependency cannot take every goroutine, connection or worker with it.
//
// A [Bulkhead] admits up to Config.Limit calls at a time. A call that finds
// every slot taken waits in a bounded first-in, first-out queue of
// Config.Queue places for at most Config.QueueTimeout; when the queue is full,
// or the wait runs out, the call is refused at once with an error that
// matches [ErrFull] and whose [*FullError] says which of the two happened. A
// slot freed by a finishing call goes straight to the caller at the head of
// the queue, so waiters are served strictly in arrival order and a newcomer
// never overtakes them. A caller whose context ends while it waits leaves the
// queue at once, making room for the next.
//
// Calls run either through [Bulkhead.Execute] (or the generic [Get]), or in
// two phases with [Bulkhead.Acquire] and [Bulkhead.Release], as the proxy does
// around a request. Neither allocates when a slot is free.
//
//	b := bulkhead.MustNew(bulkhead.Config{Limit: 100, Queue: 50, QueueTimeout: 100 * time.Millisecond})
//	err := b.Execute(ctx, func(ctx context.Context) error {
//		return callInventory(ctx)
//	})
//	if errors.Is(err, bulkhead.ErrFull) {
//		// shed: answer 503 without touching the dependency
//	}
//
// In a configuration file a bulkhead is the concurrency block of an upstream:
//
//	concurrency: {limit: 100, queue: 50, queue_timeout: 100ms}
package bulkhead
