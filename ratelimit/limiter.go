package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Limiter is a token bucket of Burst tokens refilled at RequestsPerSecond,
// kept as a lock-free GCRA: its whole state is one atomic theoretical
// arrival time, updated by compare-and-swap. The bucket starts full.
//
// Methods ending in At take the current time as an argument and are pure
// decisions on it, for tests and for callers that already read the clock;
// the others read it themselves. All methods are safe for concurrent use.
// The zero value is not usable: make a Limiter with [New].
type Limiter struct {
	// tat is the theoretical arrival time in nanoseconds since epoch: the
	// moment the bucket would be full again. It shares its cache line with
	// the read-only parameters below, which every call reads anyway.
	tat atomic.Int64
	g   gcra

	// epoch anchors the limiter's clock. It carries a monotonic reading, so
	// that time.Since(epoch), which reads only the monotonic clock, is the
	// cheapest exact way to learn the time.
	epoch time.Time
	// clock counts from epoch on holdfast's coarse clock, for the calls that
	// take a token or give up at once (Allow, Execute without MaxWait).
	clock    holdfast.CoarseClock
	maxWait  int64
	rate     float64
	name     string
	listener holdfast.Listener
	logger   *slog.Logger
}

var _ holdfast.Policy = (*Limiter)(nil)

// New returns a Limiter configured by c, or the [*holdfast.ConfigError]
// values (joined) that make c invalid.
func New(c Config) (*Limiter, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	clock := holdfast.NewCoarseClock()
	l := &Limiter{
		g:        newGCRA(c.RequestsPerSecond, c.Burst),
		epoch:    clock.Base(),
		clock:    clock,
		maxWait:  int64(c.MaxWait),
		rate:     c.RequestsPerSecond,
		name:     c.Name,
		listener: c.Listener,
		logger:   c.Logger,
	}
	l.tat.Store(full)
	return l, nil
}

// MustNew is like [New] but panics on an invalid Config. It is meant for
// examples, tests and configs fixed at compile time.
func MustNew(c Config) *Limiter {
	l, err := New(c)
	if err != nil {
		panic(err)
	}
	return l
}

// Name returns the configured name, "ratelimit" by default.
func (l *Limiter) Name() string { return l.name }

// Kind returns [holdfast.KindRateLimit].
func (l *Limiter) Kind() holdfast.Kind { return holdfast.KindRateLimit }

// Rate returns the configured rate in requests per second.
func (l *Limiter) Rate() float64 { return l.rate }

// Burst returns the bucket size.
func (l *Limiter) Burst() int { return int(l.g.burst) }

// Allow reports whether a request may happen now, and if so takes its token.
// It never waits. It reads the time from holdfast's coarse clock
// ([holdfast.CoarseClock]: one atomic load, never ahead of the system clock
// and normally at most 1ms behind it), so a token may be granted up to that
// much later than it is due, never earlier; then it costs one
// compare-and-swap, and it does not allocate.
func (l *Limiter) Allow() bool { return l.takeOne(l.coarseNow()) == 0 }

// AllowAt is [Limiter.Allow] at time now.
func (l *Limiter) AllowAt(now time.Time) bool { return l.takeOne(l.at(now)) == 0 }

// AllowN reports whether n requests may happen at time now, and if so takes
// their n tokens; otherwise it takes none. AllowN with n ≤ 0 is always true;
// with n > Burst it is always false.
func (l *Limiter) AllowN(now time.Time, n int) bool {
	if n <= 0 {
		return true
	}
	_, _, ok := l.take(l.at(now), int64(n), 0)
	return ok
}

// Tokens returns how many tokens the bucket holds now: Burst when it is
// full, negative when reservations have been made ahead of time.
func (l *Limiter) Tokens() float64 { return l.TokensAt(time.Now()) }

// TokensAt is [Limiter.Tokens] at time now.
func (l *Limiter) TokensAt(now time.Time) float64 {
	return l.g.tokens(l.tat.Load(), l.at(now))
}

// Wait blocks until a token is available and takes it. It returns at once,
// with a [*LimitedError] wrapping context.DeadlineExceeded, when the token
// would come only after ctx's deadline; and with ctx's error when ctx is
// done first, in which case the token is given back as by
// [Reservation.CancelAt] (unless tokens were granted after it).
func (l *Limiter) Wait(ctx context.Context) error { return l.WaitN(ctx, 1) }

// WaitN is [Limiter.Wait] for n tokens. It returns an error wrapping
// [ErrExceedsBurst] when n is more than Burst, and nil at once when n ≤ 0.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	return l.await(ctx, int64(n), math.MaxInt64)
}

// Execute runs next when a token is available, waiting up to Config.MaxWait
// for one (but never past ctx's deadline). Otherwise it returns a
// [*LimitedError] without calling next. When a token is at hand at once,
// Execute does not allocate.
func (l *Limiter) Execute(ctx context.Context, next func(context.Context) error) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	return next(ctx)
}

// Get runs fn under l like [Limiter.Execute] and returns its result.
func Get[T any](ctx context.Context, l *Limiter, fn func(context.Context) (T, error)) (T, error) {
	if err := l.acquire(ctx); err != nil {
		var zero T
		return zero, err
	}
	return fn(ctx)
}

// acquire takes the token of one call made through Execute or Get.
func (l *Limiter) acquire(ctx context.Context) error {
	if l.maxWait > 0 {
		return l.await(ctx, 1, l.maxWait)
	}
	if wait := l.takeOne(l.coarseNow()); wait > 0 {
		return refuse(ctx, l.name, l.listener, l.logger, wait, false)
	}
	return nil
}

// now returns the current time on the limiter's clock.
func (l *Limiter) now() int64 { return clampOffset(time.Since(l.epoch)) }

// coarseNow is now read from the coarse clock: never ahead of now, normally
// at most holdfast.CoarseTick behind it, and exact in a synctest bubble. A
// late now only delays tokens: the rate is never exceeded.
func (l *Limiter) coarseNow() int64 { return clampOffset(l.clock.Since()) }

// at converts t to the limiter's clock.
func (l *Limiter) at(t time.Time) int64 { return clampOffset(t.Sub(l.epoch)) }

// takeOne takes one token at now if there is one, and otherwise returns the
// wait until there would be. It is take(now, 1, 0), the hot path of Allow
// and Execute, written out so that it inlines: one load, and one CAS when
// the token is granted.
func (l *Limiter) takeOne(now int64) (wait int64) {
	for {
		old := l.tat.Load()
		next := max(old, now) + l.g.interval
		if wait = next - l.g.window - now; wait > 0 {
			return wait
		}
		if l.tat.CompareAndSwap(old, next) {
			return 0
		}
	}
}

// take takes n tokens at now if the caller need wait no longer than maxWait
// for them; see gcra.take. n > burst is never granted.
func (l *Limiter) take(now, n, maxWait int64) (tat, wait int64, ok bool) {
	if n > l.g.burst {
		return 0, -1, false
	}
	for {
		old := l.tat.Load()
		tat, wait, ok = l.g.take(old, now, n, maxWait)
		if !ok || l.tat.CompareAndSwap(old, tat) {
			return tat, wait, ok
		}
	}
}

// untake gives back, at now, a reservation of n tokens that set the TAT to
// tat and is due at act; see gcra.untake. One CAS settles it: if the TAT
// moved, a later grant is in effect and nothing may be given back.
func (l *Limiter) untake(now, n, act, tat int64) {
	if next, ok := l.g.untake(l.tat.Load(), now, n, act, tat); ok {
		l.tat.CompareAndSwap(tat, next)
	}
}

// await takes n tokens, waiting up to maxWait for them and never past ctx's
// deadline, and reports refusals. It allocates nothing when the tokens are
// at hand.
func (l *Limiter) await(ctx context.Context, n, maxWait int64) error {
	if n > l.g.burst {
		return exceedsBurst(n, l.g.burst)
	}
	now := l.now()
	limit := maxWait
	if limit > 0 {
		if dl, ok := ctx.Deadline(); ok {
			limit = min(limit, max(0, l.at(dl)-now))
		}
	}
	tat, wait, ok := l.take(now, n, limit)
	if ok && wait == 0 {
		return nil
	}
	if !ok {
		pastDeadline := limit < maxWait && wait <= min(maxWait, maxWindow)
		return refuse(ctx, l.name, l.listener, l.logger, wait, pastDeadline)
	}
	if !sleep(ctx, time.Duration(wait)) {
		l.untake(l.now(), n, tat-l.g.window, tat)
		return ctx.Err()
	}
	holdfast.EmitContext(ctx, l.listener, holdfast.Event{Source: holdfast.KindRateLimit, Policy: l.name, Kind: holdfast.EventQueued, Delay: time.Duration(wait)})
	return nil
}

// refuse builds the error of a refused call whose tokens would have come
// after wait, reports it (to the listeners of the call's context ctx too),
// and returns it. pastDeadline says that the wait was refused only because
// of the caller's deadline.
func refuse(ctx context.Context, name string, lis holdfast.Listener, log *slog.Logger, wait int64, pastDeadline bool) error {
	err := &LimitedError{Delay: time.Duration(wait)}
	if pastDeadline {
		err.Err = context.DeadlineExceeded
	}
	holdfast.EmitContext(ctx, lis, holdfast.Event{Source: holdfast.KindRateLimit, Policy: name, Kind: holdfast.EventRejected, Reason: holdfast.ReasonRateLimited, Delay: err.Delay, Err: err})
	if log != nil {
		log.LogAttrs(ctx, slog.LevelDebug, "rate limited",
			slog.String("policy", name), slog.Duration("retry_after", err.Delay), slog.Bool("past_deadline", pastDeadline))
	}
	return err
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
