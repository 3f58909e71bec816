// Package globalrate keeps a rate limit in Redis, shared exactly by every
// holdfast process that uses the same Redis: a route's rate_limit with
// scope global.
//
// # Model
//
// A [Limiter] is [ratelimit.Keyed]'s limit with its buckets moved into
// Redis: the same generic cell rate algorithm, the same rate, burst and
// emission interval (taken from the route's local limiter), and the same
// state, a bucket's theoretical arrival time. Each decision is one Lua
// script run atomically by Redis (EVALSHA, and EVAL when Redis has not
// cached it), so concurrent decisions from any number of proxies are
// serialised there and together admit what one limiter would: over any
// interval T at most rate·T + burst, never that times the number of proxies.
// The script reads Redis's own TIME, so proxies whose clocks disagree share
// one timeline. A bucket's key is namespaced by route and then holds the
// request's key (holdfast:rl:<len(route)>:<route>:<key>), so two routes with
// the same key never share a bucket, and it expires when its bucket is full
// again (at the soonest in a second), when a missing key means the same
// thing.
//
// # Failure
//
// A decision never waits longer than [ClientConfig].Timeout (5 ms by
// default) and never fails: when Redis is slow, down or refuses, the
// limiter's [OnError] decides (the local limiter, allow, or deny). After a
// failure the [Client] skips Redis for a backoff interval (100 ms, doubling
// to 2 s, jittered), then lets one decision probe it; the first answer ends
// the degraded state and global limiting resumes by itself. Dials happen in
// the connection pool's goroutines, at most a few at a time, each bounded.
//
// # Example
//
//	client, _ := globalrate.NewClient(globalrate.ClientConfig{Address: "127.0.0.1:6379"})
//	defer client.Close()
//	local := ratelimit.MustNewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{RequestsPerSecond: 100, Burst: 200}})
//	lim, _ := globalrate.New(globalrate.Config{Route: "api", Local: local, Client: client})
//	if ok, wait := lim.TryAt(userID, time.Now()); !ok {
//		// 429, Retry-After: wait
//	}
//
// The package is internal: it brings in a Redis client, which the policy
// packages must not depend on, and the proxy is its one user.
package globalrate
