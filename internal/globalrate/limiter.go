package globalrate

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast/ratelimit"
)

// OnError says how a [Limiter] decides while Redis fails or is slow.
type OnError uint8

// The values of [Config].OnError.
const (
	// OnErrorLocal decides with the route's local limiter, the same rate
	// and burst in this process alone: a fleet of N proxies then admits up
	// to N times the limit until Redis answers. The default.
	OnErrorLocal OnError = iota
	// OnErrorAllow admits every request.
	OnErrorAllow
	// OnErrorDeny refuses every request, with the time until Redis is
	// probed again as the wait.
	OnErrorDeny
)

// String returns local, allow or deny, as on_error spells it.
func (o OnError) String() string {
	switch o {
	case OnErrorAllow:
		return "allow"
	case OnErrorDeny:
		return "deny"
	}
	return "local"
}

// keyPrefix starts every bucket's Redis key.
const keyPrefix = "holdfast:rl:"

// Config configures a [Limiter].
type Config struct {
	// Route names the limit; it namespaces the limiter's Redis keys, so
	// that two routes with the same key never share a bucket, and every
	// process's limiter of the same route shares them. Required.
	Route string
	// Local is the route's local limiter. Its rate, burst and emission
	// interval are the global limit's, so both take the same decisions;
	// with OnErrorLocal it decides while Redis fails. Required.
	Local *ratelimit.Keyed
	// Client is the Redis the limit is kept in. Required.
	Client *Client
	// OnError says how to decide while Redis fails. Default OnErrorLocal.
	OnError OnError
	// Lease, when 2 or more, takes up to that many tokens of a key's bucket
	// per round trip and spends them in this process, cutting Redis calls
	// at high rates. Tokens are taken from the shared bucket when leased,
	// so the fleet never admits more than the limit allows them to take;
	// a leased token is spent at most Lease emission intervals after it
	// was taken (then it is dropped), so over any interval T the fleet
	// admits at most rate·T + burst + Lease, whatever the number of
	// processes. At most the burst. Default 0: one token per round trip.
	Lease int
}

// maxLeases bounds the keys a [Limiter] holds leased tokens for; past it,
// a new key's decisions take one token per round trip.
const maxLeases = 1 << 16

// lease is tokens of one key's shared bucket taken ahead by this process.
type lease struct {
	n     int       // tokens left
	until time.Time // when they are dropped
}

// Limiter is a rate limit shared by every process that uses the same Redis:
// one GCRA bucket per key, kept in Redis and updated by one atomic script
// per decision, so N proxies together admit what one would. The decisions
// are [ratelimit.Keyed]'s: the same rate, burst, emission interval and
// theoretical arrival time, with Redis's clock for now.
//
// It is safe for concurrent use. The zero value is not usable: make a
// Limiter with [New].
type Limiter struct {
	client  *Client
	local   *ratelimit.Keyed
	onError OnError
	prefix  string // keyPrefix, then the route's length and name
	args    []any  // the script's cost and window; never modified

	// callerClock makes decisions at the now passed to TryAt instead of
	// Redis's TIME; tests set it to compare decisions at exact times.
	callerClock bool

	errs      atomic.Uint64 // calls to Redis that failed
	fallbacks atomic.Uint64 // decisions made by OnError
	leased    atomic.Uint64 // decisions served from a lease

	lease    int
	interval time.Duration
	mu       sync.Mutex        // guards leases
	leases   map[string]*lease // nil without Lease
}

// Stats is a snapshot of a [Limiter]'s dealings with Redis.
type Stats struct {
	// OnError is how the limiter decides while Redis fails.
	OnError OnError
	// Degraded is true while Redis is failing: decisions are made by
	// OnError, and Redis is probed again after RetryIn.
	Degraded bool
	RetryIn  time.Duration
	// Errors counts this limiter's calls to Redis that failed or timed
	// out; Fallbacks counts its decisions made by OnError, those calls'
	// and the ones that skipped Redis while it was failing.
	Errors    uint64
	Fallbacks uint64
	// Leased counts the decisions served from leased tokens, without a
	// round trip.
	Leased uint64
}

// New returns the global limiter configured by c.
func New(c Config) (*Limiter, error) {
	switch {
	case c.Route == "":
		return nil, errors.New("globalrate: a route name is required")
	case c.Local == nil:
		return nil, errors.New("globalrate: a local limiter is required")
	case c.Client == nil:
		return nil, errors.New("globalrate: a redis client is required")
	case c.OnError > OnErrorDeny:
		return nil, errors.New("globalrate: unknown on_error " + strconv.Itoa(int(c.OnError)))
	case c.Lease < 0 || c.Lease > c.Local.Burst():
		return nil, errors.New("globalrate: lease must be in [0, burst]")
	}
	interval := int64(c.Local.Interval())
	cs, cn := split(interval)
	ws, wn := split(int64(c.Local.Burst()) * interval)
	return &Limiter{
		client:  c.Client,
		local:   c.Local,
		onError: c.OnError,
		// The route's length makes the key unambiguous whatever the route
		// and the key hold: route "a:b" with key "c" is not route "a"
		// with key "b:c".
		prefix:   keyPrefix + strconv.Itoa(len(c.Route)) + ":" + c.Route + ":",
		args:     []any{cs, cn, ws, wn},
		lease:    max(c.Lease, 1),
		interval: time.Duration(interval),
		leases:   leasesFor(c.Lease),
	}, nil
}

func leasesFor(n int) map[string]*lease {
	if n < 2 {
		return nil
	}
	return map[string]*lease{}
}

// spend takes one leased token of key, if this process holds one.
func (l *Limiter) spend(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.leases[key]
	if e == nil {
		return false
	}
	if !now.Before(e.until) {
		delete(l.leases, key)
		return false
	}
	e.n--
	if e.n == 0 {
		delete(l.leases, key)
	}
	return true
}

// keep holds n tokens of key taken at now, to spend until they would have
// accrued: n emission intervals.
func (l *Limiter) keep(key string, n int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.leases) >= maxLeases {
		for k, e := range l.leases {
			if !now.Before(e.until) {
				delete(l.leases, k)
			}
		}
		if len(l.leases) >= maxLeases {
			return // the tokens are lost: fewer admitted, never more
		}
	}
	l.leases[key] = &lease{n: n, until: now.Add(time.Duration(n) * l.interval)}
}

// TryAt reports whether a request for key may happen now, taking its token
// from the shared bucket, and, when it may not, how long until it would be
// allowed: the Retry-After to give the caller, exactly as
// [ratelimit.Keyed.TryAt]. now is the request's time; the shared bucket is
// kept on Redis's clock, and now serves the short circuit and the local
// fallback. It never waits longer than the client's Timeout: when Redis
// fails or is slow, the decision is OnError's.
func (l *Limiter) TryAt(key string, now time.Time) (ok bool, wait time.Duration) {
	if l.leases != nil && l.spend(key, now) {
		l.leased.Add(1)
		return true, 0
	}
	c := l.client
	if !c.admit(now) {
		return l.fallback(key, now)
	}
	var at time.Time
	if l.callerClock {
		at = now
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	got, wait, err := take(ctx, c.rdb, l.prefix+key, l.args, l.lease, at)
	cancel()
	if err != nil {
		l.errs.Add(1)
		c.failed(now, err)
		return l.fallback(key, now)
	}
	c.succeeded()
	if got > 1 {
		l.keep(key, got-1, now)
	}
	return got > 0, wait
}

// fallback decides by OnError while Redis fails.
func (l *Limiter) fallback(key string, now time.Time) (bool, time.Duration) {
	l.fallbacks.Add(1)
	switch l.onError {
	case OnErrorAllow:
		return true, 0
	case OnErrorDeny:
		// At least a millisecond, so that a refusal always carries a wait.
		return false, max(l.client.retryIn(now), time.Millisecond)
	}
	return l.local.TryAt(key, now)
}

// Len returns the number of keys the local limiter holds: those it decided
// for while Redis failed and whose buckets are not full again. The shared
// buckets are in Redis.
func (l *Limiter) Len() int { return l.local.Len() }

// Stats returns a snapshot of l's dealings with Redis.
func (l *Limiter) Stats() Stats {
	now := time.Now()
	return Stats{
		OnError:   l.onError,
		Degraded:  l.client.Degraded(),
		RetryIn:   l.client.retryIn(now),
		Errors:    l.errs.Load(),
		Fallbacks: l.fallbacks.Load(),
		Leased:    l.leased.Load(),
	}
}

// Client returns the Redis client the limiter uses.
func (l *Limiter) Client() *Client { return l.client }
