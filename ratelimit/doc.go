// Package ratelimit limits how often something may happen: a [Limiter] is
// one token bucket, a [Keyed] limiter is one bucket per key (per user, per IP
// address) in bounded memory.
//
// # Model
//
// A bucket holds up to Burst tokens and gains RequestsPerSecond of them each
// second; a request takes one token (or n), and is refused when the bucket
// has too few. The bucket starts full, so after a quiet spell Burst requests
// may come at once, and over any interval of length T at most
// RequestsPerSecond·T + Burst are allowed.
//
// The bucket is kept as a generic cell rate algorithm (GCRA): its whole state
// is the theoretical arrival time, the moment it would be full again. A
// [Limiter] updates it with one compare-and-swap, without a lock, and Allow
// costs a read of holdfast's coarse clock (one atomic load; at most about
// 1ms late, so a token may come that much late, never early) and that CAS.
// Waiting calls read the system clock exactly. Callers that have
// already read the clock pay only the CAS with the At variants, which take
// the time as an argument and are pure decisions on it.
//
// A refused call gets a [*LimitedError], which matches [ErrLimited] and
// carries the delay after which it would have been allowed, as its
// RetryAfter hint. [Limiter.Wait] blocks for a token instead, but returns at
// once when the token would come after the context's deadline.
// [Limiter.Reserve] takes tokens ahead of time and says when to act; a
// reservation that will not be used can be cancelled.
//
// A [Keyed] limiter forgets a key as soon as its bucket is full again: such
// a key is idle, and forgetting it changes nothing, since an unknown key
// starts with a full bucket. Sweeps that do this run as part of the calls,
// each shard every SweepInterval, and MaxKeys caps the keys held between
// sweeps, at about 20 to 40 bytes a key.
//
// # Example
//
//	lim := ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 100, Burst: 200})
//	err := lim.Execute(ctx, call)
//	if d, ok := holdfast.RetryAfter(err); errors.Is(err, ratelimit.ErrLimited) && ok {
//		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
//	}
//
// In a configuration file the same Config is a route's rate_limit block:
//
//	rate_limit: {requests_per_second: 100, burst: 200, key: header:X-User-Id}
//
// where key, which picks the Keyed limiter's key from the request, belongs
// to the proxy.
package ratelimit
