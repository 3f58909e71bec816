// Package hedge cuts tail latency by hedging: when a call is slow, it starts
// another attempt of the same call and takes whichever succeeds first.
//
// # Model
//
// A [Hedger] starts the first attempt at once. If no attempt has answered
// after the hedge delay, it starts another, and so on up to
// [Config.MaxExtra] extra attempts, each one delay after the previous. An
// attempt that fails with an ordinary error makes the next attempt start at
// once rather than after the delay (a fast failure is no reason to wait);
// one that fails with a [holdfast.Permanent] error ends the call with that
// error, since no other attempt could do better.
//
// The first success wins: the call returns its result at once, cancels the
// other attempts' contexts (with cause [ErrLost]) and does not wait for them
// to return. Attempts therefore run concurrently with each other and may
// outlive the call; the function hedged must be safe for that and should be
// idempotent. Hedged attempts run on goroutines of their own, so a panic in
// one cannot be recovered by the caller.
//
// The delay is fixed ([Config.Delay]) or adaptive: with [Config.Percentile]
// set, it is that percentile of the latencies of the most recent successful
// attempts ([Config.SampleSize] of them), once [Config.MinSamples] have been
// seen, bounded by [Config.MinDelay] and [Config.MaxDelay].
//
// Hedging adds load, so extra attempts draw on a budget, a token bucket
// sized in extra attempts: each call earns [Config.BudgetPercent]/100 of one,
// each extra attempt spends one, and at most [Config.BudgetBurst] can be
// saved up. With the default 10%, at most about one call in ten is hedged
// over time. When the budget cannot pay for any extra attempt, the call runs
// on the caller's goroutine like a plain call.
//
// Each extra attempt is reported as a [holdfast.EventHedge] whose Delay is
// how long after the start of the call it began; a denial by the budget is a
// [holdfast.EventRejected] with reason [holdfast.ReasonBudgetExhausted].
//
// # Example
//
//	h := hedge.MustNew(hedge.Config{Delay: 50 * time.Millisecond, MaxExtra: 1})
//	item, err := hedge.Get(ctx, h, func(ctx context.Context) (*Item, error) {
//		return client.GetItem(ctx, id) // must honour ctx: losers are cancelled
//	})
package hedge
