// Package breaker is a circuit breaker: it stops calling a dependency that
// keeps failing, gives it time to recover, and then lets a few probe calls
// find out whether it has.
//
// # Model
//
// A [Breaker] is in one of three states.
//
//   - Closed: every call runs, and its outcome goes into a sliding window,
//     either the last window_size calls (window_type count, the default) or
//     the last window of time in buckets (window_type time). The breaker
//     trips, moving to open, when failures reach failure_rate of the calls
//     in the window (once it holds minimum_requests calls), when slow calls
//     reach slow_call_rate, or after consecutive_failures failures in a row.
//   - Open: every call is refused with [ErrOpen], whose [*OpenError] tells
//     how much of open_duration is left (holdfast.RetryAfter reads it). When
//     probes fail, each reopening multiplies the open time by open_backoff,
//     up to max_open_duration.
//   - Half-open: exactly half_open_requests probe calls are admitted, never
//     more at once however many callers race. When all of them succeed the
//     breaker closes with an empty window; a probe that fails or is slow
//     opens it again.
//
// A call whose error wraps context.Canceled is not an outcome at all: the
// caller gave up, which says nothing about the dependency. Config.IsFailure
// decides which other errors are failures. [Breaker.ForceOpen],
// [Breaker.ForceClosed] and [Breaker.Reset] override the state by hand, and
// every state change goes to Config.Listener as a holdfast.EventStateChange
// with From, To and a Reason, never while the breaker holds its lock.
//
// # Cost
//
// A successful call on a closed breaker with a count window takes no lock,
// allocates nothing and never reads the clock: the window is a ring of
// atomic slots. A time window places each outcome by holdfast's coarse
// clock ([holdfast.CoarseClock]), which costs one atomic load instead of a
// system clock read and is at most about 1ms late: an outcome may land in
// the bucket before its own when it ends within that of a bucket's start,
// and an open period may start that much early. A slow-call threshold needs
// two exact clock reads per call; on many machines a clock read costs more
// than the rest of the call. A caller that already has the time, such as a
// proxy measuring latency, can pass it with [Breaker.AllowAt] and
// [Permit.Record] instead.
//
// # Use
//
// Wrap calls with [Breaker.Execute] or [Get]:
//
//	cb := breaker.MustNew(breaker.Config{Name: "catalog", ConsecutiveFailures: 5})
//	item, err := breaker.Get(ctx, cb, fetchItem)
//	if errors.Is(err, breaker.ErrOpen) {
//		// serve from cache; holdfast.RetryAfter(err) says when to try again
//	}
//
// A proxy, which runs and classifies requests itself, uses the two-phase API:
//
//	permit, err := cb.Allow()
//	if err != nil {
//		return reject(err)
//	}
//	resp, err := forward(req)
//	permit.Record(err == nil && resp.StatusCode < 500, elapsed)
package breaker
