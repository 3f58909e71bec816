package ratelimit

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Keyed is a set of token buckets, one per key (a user, an IP address), all
// with the same rate and burst, in bounded memory. A key's bucket springs
// into being full on first use. A key whose bucket is full again is idle and
// is forgotten by the next sweep, which changes no decision because a
// missing key is a full bucket; MaxKeys caps the keys held between sweeps.
//
// Buckets are spread over up to 256 shards, each a map under its own mutex.
// A key is held as its 64-bit hash under a random per-limiter seed, not as
// a string, so a bucket costs no allocation and no copy of the key; two
// keys share a bucket only if their hashes collide (odds of about 5e-14 for
// each new key among a million), which can only make both stricter.
//
// All methods are safe for concurrent use. The zero value is not usable:
// make a Keyed with [NewKeyed].
type Keyed struct {
	g          gcra
	shards     []shard
	shift      uint // a key's shard is its hash >> shift
	seed       maphash.Seed
	epoch      time.Time // anchors the clock, as in Limiter
	sweepEvery int64
	maxWait    int64
	maxKeys    int
	rate       float64
	name       string
	keyFunc    func(context.Context) string
	listener   holdfast.Listener
	logger     *slog.Logger

	swept     atomic.Uint64 // idle keys dropped
	displaced atomic.Uint64 // keys dropped before they were idle, for room
}

var _ holdfast.Policy = (*Keyed)(nil)

// KeyedStats is a snapshot of a [Keyed] limiter's bookkeeping.
type KeyedStats struct {
	Keys      int    // keys held now
	Swept     uint64 // idle keys forgotten so far, by sweeps or to make room
	Displaced uint64 // keys forgotten before their bucket was full, because MaxKeys was reached
}

// NewKeyed returns a Keyed limiter configured by c, or the
// [*holdfast.ConfigError] values (joined) that make c invalid.
func NewKeyed(c KeyedConfig) (*Keyed, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	shards := newShards(c.MaxKeys)
	return &Keyed{
		g:          newGCRA(c.RequestsPerSecond, c.Burst),
		shards:     shards,
		shift:      uint(64 - bits.TrailingZeros(uint(len(shards)))),
		seed:       maphash.MakeSeed(),
		epoch:      time.Now(),
		sweepEvery: min(int64(c.SweepInterval), maxOffset),
		maxWait:    int64(c.MaxWait),
		maxKeys:    c.MaxKeys,
		rate:       c.RequestsPerSecond,
		name:       c.Name,
		keyFunc:    c.KeyFunc,
		listener:   c.Listener,
		logger:     c.Logger,
	}, nil
}

// MustNewKeyed is like [NewKeyed] but panics on an invalid KeyedConfig.
func MustNewKeyed(c KeyedConfig) *Keyed {
	k, err := NewKeyed(c)
	if err != nil {
		panic(err)
	}
	return k
}

// Name returns the configured name, "ratelimit" by default.
func (k *Keyed) Name() string { return k.name }

// Kind returns [holdfast.KindRateLimit].
func (k *Keyed) Kind() holdfast.Kind { return holdfast.KindRateLimit }

// Rate returns the configured rate of every bucket in requests per second.
func (k *Keyed) Rate() float64 { return k.rate }

// Burst returns the size of every bucket.
func (k *Keyed) Burst() int { return int(k.g.burst) }

// Interval returns the emission interval of every bucket: the time one
// token takes to come back, 1e9/Rate nanoseconds rounded up. A bucket's
// theoretical arrival time moves on by Interval for each token taken, and a
// request is allowed while it stays within Burst·Interval of now; a limiter
// kept elsewhere (such as one shared through Redis) that uses the same
// Interval and Burst takes the same decisions.
func (k *Keyed) Interval() time.Duration { return time.Duration(k.g.interval) }

// MaxKeys returns the most keys k holds at once.
func (k *Keyed) MaxKeys() int { return k.maxKeys }

// Allow reports whether a request for key may happen now, and if so takes
// its token.
func (k *Keyed) Allow(key string) bool {
	_, _, ok := k.take(key, k.now(), 1, 0)
	return ok
}

// AllowAt is [Keyed.Allow] at time now.
func (k *Keyed) AllowAt(key string, now time.Time) bool {
	_, _, ok := k.take(key, k.at(now), 1, 0)
	return ok
}

// TryAt is [Keyed.AllowAt] that also says, when it refuses, how long until
// the same request would be allowed: the Retry-After to give the caller.
// wait is zero when ok is true.
func (k *Keyed) TryAt(key string, now time.Time) (ok bool, wait time.Duration) {
	_, w, ok := k.take(key, k.at(now), 1, 0)
	if ok {
		return true, 0
	}
	return false, time.Duration(w)
}

// AllowN reports whether n requests for key may happen at time now, and if
// so takes their tokens. It is always true for n ≤ 0 and always false for
// n > Burst.
func (k *Keyed) AllowN(key string, now time.Time, n int) bool {
	if n <= 0 {
		return true
	}
	_, _, ok := k.take(key, k.at(now), int64(n), 0)
	return ok
}

// TokensAt returns how many tokens key's bucket holds at time now, without
// taking any. A key not held has a full bucket.
func (k *Keyed) TokensAt(key string, now time.Time) float64 {
	h := maphash.String(k.seed, key)
	s := k.shard(h)
	s.mu.Lock()
	tat, held := s.m[h]
	s.mu.Unlock()
	if !held {
		tat = full
	}
	return k.g.tokens(tat, k.at(now))
}

// Wait blocks until a token for key is available and takes it, like
// [Limiter.Wait].
func (k *Keyed) Wait(ctx context.Context, key string) error { return k.WaitN(ctx, key, 1) }

// WaitN is [Keyed.Wait] for n tokens, like [Limiter.WaitN].
func (k *Keyed) WaitN(ctx context.Context, key string, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	return k.await(ctx, key, int64(n), math.MaxInt64)
}

// Execute runs next under the bucket of the key that KeyedConfig.KeyFunc
// finds in ctx (by default the one set by [WithKey]); see
// [Keyed.ExecuteKey].
func (k *Keyed) Execute(ctx context.Context, next func(context.Context) error) error {
	return k.ExecuteKey(ctx, k.keyFunc(ctx), next)
}

// ExecuteKey runs next when key's bucket has a token, waiting up to
// Config.MaxWait for one (never past ctx's deadline); otherwise it returns a
// [*LimitedError] without calling next.
func (k *Keyed) ExecuteKey(ctx context.Context, key string, next func(context.Context) error) error {
	if err := k.await(ctx, key, 1, k.maxWait); err != nil {
		return err
	}
	return next(ctx)
}

// Len returns the number of keys held.
func (k *Keyed) Len() int {
	n := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Stats returns a snapshot of k's bookkeeping. Its counts are not taken at
// one instant when calls are running.
func (k *Keyed) Stats() KeyedStats {
	return KeyedStats{Keys: k.Len(), Swept: k.swept.Load(), Displaced: k.displaced.Load()}
}

// Sweep is [Keyed.SweepAt] now.
func (k *Keyed) Sweep() int { return k.SweepAt(time.Now()) }

// SweepAt forgets every key whose bucket is full at time now, gives back the
// memory of maps left much smaller than they were, and returns how many keys
// it forgot. Calls sweep each shard by themselves every SweepInterval; Sweep
// is for reclaiming memory at once, such as after a flood of one-off keys.
func (k *Keyed) SweepAt(now time.Time) int {
	t := k.at(now)
	dropped := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		dropped += s.sweepLocked(t, k.sweepEvery)
		s.mu.Unlock()
	}
	k.swept.Add(uint64(dropped))
	return dropped
}

// WithKey returns a copy of ctx carrying key, the key [Keyed.Execute] limits
// by default.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyContext{}, key)
}

// KeyFrom returns the key stored in ctx by [WithKey], or "" when there is
// none. It is the default KeyedConfig.KeyFunc.
func KeyFrom(ctx context.Context) string {
	key, _ := ctx.Value(keyContext{}).(string)
	return key
}

type keyContext struct{}

func (k *Keyed) now() int64           { return clampOffset(time.Since(k.epoch)) }
func (k *Keyed) at(t time.Time) int64 { return clampOffset(t.Sub(k.epoch)) }

func (k *Keyed) shard(h uint64) *shard { return &k.shards[h>>k.shift] }

// take takes n tokens from key's bucket at now if the caller need wait no
// longer than maxWait for them; see gcra.take. The shard sweeps itself
// first when its sweep is due.
func (k *Keyed) take(key string, now, n, maxWait int64) (tat, wait int64, ok bool) {
	if n > k.g.burst {
		return 0, -1, false
	}
	h := maphash.String(k.seed, key)
	s := k.shard(h)
	s.mu.Lock()
	swept := 0
	if now >= s.nextSweep {
		swept = s.sweepLocked(now, k.sweepEvery)
	}
	old, held := s.m[h]
	if !held {
		old = full
	}
	var displaced, idle bool
	tat, wait, ok = k.g.take(old, now, n, maxWait)
	if ok {
		if held {
			s.m[h] = tat
		} else {
			displaced, idle = s.putNewLocked(h, tat, now)
		}
	}
	s.mu.Unlock()
	if displaced && idle {
		swept++
	}
	if swept > 0 {
		k.swept.Add(uint64(swept))
	}
	if displaced && !idle {
		k.displaced.Add(1)
	}
	return tat, wait, ok
}

// untake gives back, at now, a reservation of n tokens from key's bucket
// that set its TAT to tat and is due at act; see gcra.untake. A key
// forgotten meanwhile has nothing to give back.
func (k *Keyed) untake(key string, now, n, act, tat int64) {
	h := maphash.String(k.seed, key)
	s := k.shard(h)
	s.mu.Lock()
	if cur, held := s.m[h]; held {
		if next, ok := k.g.untake(cur, now, n, act, tat); ok {
			s.m[h] = next
		}
	}
	s.mu.Unlock()
}

// await is Limiter.await for key's bucket.
func (k *Keyed) await(ctx context.Context, key string, n, maxWait int64) error {
	if n > k.g.burst {
		return exceedsBurst(n, k.g.burst)
	}
	now := k.now()
	limit := maxWait
	if limit > 0 {
		if dl, ok := ctx.Deadline(); ok {
			limit = min(limit, max(0, k.at(dl)-now))
		}
	}
	tat, wait, ok := k.take(key, now, n, limit)
	if ok && wait == 0 {
		return nil
	}
	if !ok {
		pastDeadline := limit < maxWait && wait <= min(maxWait, maxWindow)
		return refuse(ctx, k.name, k.listener, k.logger, wait, pastDeadline)
	}
	if !sleep(ctx, time.Duration(wait)) {
		k.untake(key, k.now(), n, tat-k.g.window, tat)
		return ctx.Err()
	}
	holdfast.EmitContext(ctx, k.listener, holdfast.Event{Source: holdfast.KindRateLimit, Policy: k.name, Kind: holdfast.EventQueued, Delay: time.Duration(wait)})
	return nil
}
