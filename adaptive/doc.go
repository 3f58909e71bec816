// Package adaptive is an adaptive concurrency limit: a bulkhead whose size
// finds itself. It admits calls up to a limit and moves the limit to where
// the dependency behind it is kept busy without queueing, so that overload
// is refused at the door, quickly, instead of waiting in the dependency's
// queues until everyone times out.
//
// # The model
//
// A [Limiter] first learns the dependency's no-load latency (its minimum
// round-trip time): it holds the limit at Config.Min, where the dependency
// should not queue, and takes the median latency of Config.ProbeSamples
// calls. It measures again every Config.ProbeInterval, and at once when the
// latency stops responding to the limit, so a dependency that became slower
// for good is re-learned. In between, every Config.Window it compares the
// mean latency of the calls that finished with the no-load latency: latency
// near no-load means there is room, and the limit rises (only if the calls
// in flight came near it); latency above it means requests are queueing
// downstream, and the limit falls. How far it moves depends on
// Config.Algorithm: [Gradient] (the default, as in Envoy's adaptive
// concurrency filter), [Vegas] (as in Netflix's concurrency-limits), or the
// simple [AIMD]. A call that reports an overload signal, such as a timeout,
// makes the limit back off whatever the latency.
//
// Calls over the limit are refused at once with an error matching
// [ErrLimited] (reason "overloaded"); there is no queue, since waiting is
// exactly what the limit exists to prevent.
//
// # Priorities
//
// Brownout before blackout: [Limiter.AcquirePriority] admits a call of a
// [Priority] (critical, default, sheddable) by [Shed] first. When calls of
// a higher priority share the limit, a default call may fill DefaultShare
// of it and a sheddable one SheddableShare (each at least one slot), so
// the lower priorities are refused first ([ErrShed], reason "shed") and
// the highest meets only the limit; while an urgent alert burns,
// sheddable calls are refused outright.
//
// # Use
//
// [Limiter.Execute] (or the generic [Get]) runs a call and measures it; the
// proxy uses the two-phase form, [Limiter.Acquire] and then one of
// [Token.Done], [Token.Drop], [Token.Ignore] or [Token.Finish]. Neither
// allocates when the call is admitted.
//
//	lim := adaptive.MustNew(adaptive.Config{Min: 5, Max: 1000})
//	err := lim.Execute(ctx, func(ctx context.Context) error {
//		return callSearch(ctx)
//	})
//	if errors.Is(err, adaptive.ErrLimited) {
//		// shed: answer 503 without touching the dependency
//	}
//
// In a configuration file an adaptive limit is the concurrency.adaptive
// block of an upstream:
//
//	concurrency: {adaptive: {min: 5, max: 1000}}
package adaptive
