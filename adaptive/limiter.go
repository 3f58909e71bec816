package adaptive

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// The states a [Limiter] reports in EventStateChange.
const (
	StateLimiting = "limiting" // the limit follows the measured latency
	StateProbing  = "probing"  // the limit is held at Min to measure the no-load latency
)

// Limiter is an adaptive concurrency limit: it admits calls up to a limit
// that it keeps moving to where the dependency is busy but not queueing.
// Build one with [New]; the zero value is not usable. A Limiter is safe for
// concurrent use and must not be copied.
type Limiter struct {
	name     string
	isDrop   func(error) bool
	listener holdfast.Listener
	logger   *slog.Logger

	// limit and inFlight are read and moved without the lock so that
	// admitting or refusing a call never waits for it. limit is only
	// stored with mu held.
	limit    atomic.Int64
	inFlight atomic.Int64

	// mu guards ctl.
	mu  sync.Mutex
	ctl *controller
}

var _ holdfast.Policy = (*Limiter)(nil)

// New returns a Limiter for c, or the [*holdfast.ConfigError]s of its
// invalid values. The limiter starts by measuring the no-load latency, with
// the limit held at Min; it moves to Initial once that is done.
func New(c Config) (*Limiter, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := &Limiter{
		name:     c.Name,
		isDrop:   c.IsDrop,
		listener: c.Listener,
		logger:   c.Logger,
		ctl:      newController(c, time.Now(), rand.Float64),
	}
	l.limit.Store(int64(l.ctl.admitted()))
	return l, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// examples, tests and package-level variables with constant configs.
func MustNew(c Config) *Limiter {
	l, err := New(c)
	if err != nil {
		panic(err)
	}
	return l
}

// Name returns the configured name, "adaptive" by default.
func (l *Limiter) Name() string { return l.name }

// Kind returns [holdfast.KindBulkhead]: an adaptive limit sits where a
// bulkhead would.
func (l *Limiter) Kind() holdfast.Kind { return holdfast.KindBulkhead }

// Limit returns how many calls may be in flight now.
func (l *Limiter) Limit() int { return int(l.limit.Load()) }

// InFlight returns how many admitted calls have not finished yet.
func (l *Limiter) InFlight() int { return int(l.inFlight.Load()) }

// MinRTT returns the latest measurement of the no-load latency (the
// latency of a call that meets no queue), or 0 before the first one is done.
func (l *Limiter) MinRTT() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctl.noload
}

// Probing reports whether the limiter is measuring the no-load latency,
// with the limit held at Min.
func (l *Limiter) Probing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctl.probing
}

// Execute runs next if the limit allows one more call, and learns from how
// long it took. Otherwise it returns a [*LimitedError] matching [ErrLimited]
// at once, without calling next. The latency of next counts when it returns
// nil; an error for which Config.IsDrop is true counts as an overload
// signal; any other error, or a panic, releases the call without teaching
// the limiter anything.
func (l *Limiter) Execute(ctx context.Context, next func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tok, err := l.acquire(ctx)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			tok.Ignore()
		}
	}()
	err = next(ctx)
	finished = true
	tok.Finish(err)
	return err
}

// Get runs fn under l, like [Limiter.Execute], and returns its result.
func Get[T any](ctx context.Context, l *Limiter, fn func(context.Context) (T, error)) (T, error) {
	var v T
	err := l.Execute(ctx, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}

// Acquire admits one call if fewer than Limit are in flight, and returns
// the Token that must end it. Otherwise it returns a [*LimitedError]
// matching [ErrLimited] and a zero Token. It never waits and, on success,
// never allocates. Acquire has no call context: its events, and those of
// the Token's end, go to the configured Listener only.
func (l *Limiter) Acquire() (Token, error) { return l.acquire(context.Background()) }

// acquire is Acquire for a call whose context's listeners hear the events
// of its admission and of its end.
func (l *Limiter) acquire(ctx context.Context) (Token, error) {
	for {
		n, lim := l.inFlight.Load(), l.limit.Load()
		if n >= lim {
			return Token{}, l.reject(ctx, n, lim)
		}
		if l.inFlight.CompareAndSwap(n, n+1) {
			return Token{l: l, start: time.Now(), ctx: ctx}, nil
		}
	}
}

func (l *Limiter) reject(ctx context.Context, inFlight, limit int64) error {
	err := &LimitedError{Limit: int(limit), InFlight: int(inFlight)}
	holdfast.EmitContext(ctx, l.listener, holdfast.Event{Source: holdfast.KindBulkhead, Policy: l.name, Kind: holdfast.EventRejected, Reason: holdfast.ReasonOverloaded, Err: err})
	if l.logger != nil {
		l.logger.LogAttrs(context.Background(), slog.LevelDebug, "adaptive: call refused",
			slog.String("policy", l.name), slog.Int64("limit", limit), slog.Int64("in_flight", inFlight))
	}
	return err
}

// outcome is how a call ended, as told by its Token.
type outcome uint8

const (
	outcomeDone outcome = iota
	outcomeDrop
	outcomeIgnore
)

// finish ends a call admitted at start under ctx with outcome o.
func (l *Limiter) finish(ctx context.Context, start time.Time, o outcome) {
	n := l.inFlight.Add(-1)
	if n < 0 {
		panic("adaptive: Token ended twice")
	}
	if o == outcomeIgnore {
		return
	}
	now := time.Now()
	l.mu.Lock()
	ch := l.ctl.observe(start, now, int(n)+1, o == outcomeDrop)
	if ch.to != ch.from {
		l.limit.Store(int64(ch.to))
	}
	noload := l.ctl.noload
	l.mu.Unlock()
	l.report(ctx, ch, noload)
}

// report emits the events for ch, which the end of the call whose context
// is ctx caused; it runs without the lock. A state change comes before the
// limit change it causes.
func (l *Limiter) report(ctx context.Context, ch change, noload time.Duration) {
	switch {
	case ch.probeStarted:
		holdfast.EmitContext(ctx, l.listener, holdfast.Event{Source: holdfast.KindBulkhead, Policy: l.name, Kind: holdfast.EventStateChange, From: StateLimiting, To: StateProbing})
	case ch.probeEnded:
		holdfast.EmitContext(ctx, l.listener, holdfast.Event{Source: holdfast.KindBulkhead, Policy: l.name, Kind: holdfast.EventStateChange, From: StateProbing, To: StateLimiting})
	}
	if ch.to != ch.from {
		holdfast.EmitContext(ctx, l.listener, holdfast.Event{Source: holdfast.KindBulkhead, Policy: l.name, Kind: holdfast.EventLimitChanged, Value: float64(ch.to)})
		if l.logger != nil {
			l.logger.LogAttrs(context.Background(), slog.LevelDebug, "adaptive: limit changed",
				slog.String("policy", l.name), slog.Int("from", ch.from), slog.Int("to", ch.to), slog.Duration("min_rtt", noload))
		}
	}
}

// Token is one call admitted by [Limiter.Acquire]. Exactly one of Done,
// Drop, Ignore or Finish must be called on it, once, when the call ends;
// ending a Token twice may panic. The zero Token (from a refused Acquire)
// may be ended and then does nothing. A Token is a small value: pass it by
// value.
type Token struct {
	l     *Limiter
	start time.Time
	ctx   context.Context // the call's, whose listeners hear what its end changes
}

// Done ends a call that succeeded; its latency since Acquire is a sample.
func (t Token) Done() {
	if t.l != nil {
		t.l.finish(t.ctx, t.start, outcomeDone)
	}
}

// Drop ends a call that met an overload signal, such as a timeout or a 503
// from the dependency; the limiter backs off.
func (t Token) Drop() {
	if t.l != nil {
		t.l.finish(t.ctx, t.start, outcomeDrop)
	}
}

// Ignore ends a call whose outcome says nothing about load, such as a
// cancelled request or a fast client error; it frees the slot without a
// sample.
func (t Token) Ignore() {
	if t.l != nil {
		t.l.finish(t.ctx, t.start, outcomeIgnore)
	}
}

// Finish ends the call by its error, as [Limiter.Execute] does: nil is
// Done, an error for which Config.IsDrop is true is Drop, others Ignore.
func (t Token) Finish(err error) {
	switch {
	case t.l == nil:
	case err == nil:
		t.Done()
	case t.l.isDrop(err):
		t.Drop()
	default:
		t.Ignore()
	}
}
