// Package holdfast composes resilience policies into a [Pipeline] and holds the
// types every policy shares: the [Event] stream and its [Listener], the [Policy]
// interface, and the error helpers [Permanent] and [RetryAfter].
//
// The policies themselves live in their own packages (retry, breaker, ratelimit,
// bulkhead, adaptive, timeout, hedge, fallback, vote, guard). Each has a Config
// struct and a New(Config) constructor, and each can be used on its own or as a
// stage of a Pipeline:
//
//	p, err := holdfast.New[*Item](
//		retry.MustNew(retry.Config{Attempts: 3}),
//		breaker.MustNew(breaker.Config{}),
//		timeout.MustNew(timeout.Config{Timeout: time.Second}),
//	)
//	item, err := p.Get(ctx, fetchItem)
//
// A pipeline runs its stages in the order given, the first outermost, as Go
// middleware chains do. [Recommended] puts policies in the order that suits
// most calls: fallback, retry, breaker, hedge, rate limit, bulkhead or
// adaptive limit, timeout, guard, and then the call.
//
// Policy packages depend on the standard library and this package only; they
// never import the proxy.
package holdfast
