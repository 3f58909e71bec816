// Package timeout bounds how long a call may take.
//
// The model: [Timeout.Execute] gives the call a context whose deadline is the
// configured timeout (or the caller's deadline, when that is earlier) and runs
// it on its own goroutine. When the deadline passes first, Execute returns at
// once with an error matching [ErrTimeout] and context.DeadlineExceeded, like
// failsafe-go's timeout: a caller is never held past its deadline by work that
// ignores cancellation. Such work keeps running until it returns; its
// goroutine then reports how long it overran, as an EventOverrun to the
// Listener and through [Config].OnOverrun, so that code which ignores its
// context shows up in metrics and logs instead of leaking silently.
//
// A call that returns in time is returned as it is; an error it returns after
// the deadline passed is wrapped in a [*TimeoutError].
//
// Example:
//
//	t := timeout.MustNew(timeout.Config{Timeout: 2 * time.Second})
//	item, err := timeout.Get(ctx, t, fetchItem)
//	if errors.Is(err, timeout.ErrTimeout) { ... }
package timeout
