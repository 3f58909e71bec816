package breaker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Breaker is a circuit breaker. Make one with [New] or [MustNew]; the zero
// value is not usable. A Breaker is safe for concurrent use and must not be
// copied after first use.
//
// Calls go through [Breaker.Execute], [Get], or the two-phase
// [Breaker.Allow] and [Permit.Done] for callers that run and classify calls
// themselves.
type Breaker struct {
	cfg  Config // with defaults applied
	base time.Time
	// clock is the coarse clock a time window's outcomes are placed with,
	// counting from base.
	clock    holdfast.CoarseClock
	slowCall int64 // SlowCallDuration in nanoseconds; 0 when off
	// clocked reports that finishing a call needs the time: for the time
	// window's bucket or the slow-call check.
	clocked bool

	// cur is the current epoch. Readers load it without the lock; only
	// toLocked replaces it.
	cur atomic.Pointer[epoch]

	// mu guards transitions (replacing cur) and the fields below.
	mu      sync.Mutex
	reopens int    // reopenings from half-open in a row; grows the open time
	trips   uint64 // times the breaker opened on its own (ForceOpen excluded)
	probes  int    // half-open: probe calls admitted and not released
	probeOK int    // half-open: probe calls that succeeded
}

var (
	_ holdfast.Policy = (*Breaker)(nil)
	_ holdfast.Named  = (*Breaker)(nil)
	_ holdfast.Kinded = (*Breaker)(nil)
)

// New returns a closed breaker configured by cfg, or the errors of
// [Config.Validate].
func New(cfg Config) (*Breaker, error) {
	// Validate applies the defaults itself; it must see the fields as the
	// caller set them, to catch keys that do not apply (such as window with a
	// count window).
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	clock := holdfast.NewCoarseClock()
	b := &Breaker{
		cfg:      cfg,
		base:     clock.Base(),
		clock:    clock,
		slowCall: int64(cfg.SlowCallDuration),
		clocked:  cfg.SlowCallDuration > 0 || cfg.WindowType == WindowTime,
	}
	b.mu.Lock()
	b.toLocked(&epoch{}, Closed, false, 0, "", nil)
	b.mu.Unlock()
	return b, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// examples, tests and configs fixed in code.
func MustNew(cfg Config) *Breaker {
	b, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// Name returns the configured name ("breaker" by default).
func (b *Breaker) Name() string { return b.cfg.Name }

// Kind returns holdfast.KindBreaker.
func (b *Breaker) Kind() holdfast.Kind { return holdfast.KindBreaker }

// Execute runs next if the breaker admits the call and records its outcome,
// returning next's error unchanged. When the breaker refuses the call, next
// does not run and Execute returns an [*OpenError] matching [ErrOpen]. A
// panic or runtime.Goexit in next is recorded as a failure and goes on up.
//
// On a closed breaker with a count window and no slow-call threshold (the
// default), a successful call costs a few atomic operations: no lock, no
// allocation and no clock read.
func (b *Breaker) Execute(ctx context.Context, next func(context.Context) error) error {
	p, err := b.allow(ctx)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			p.finish(outcomeFailure, errAborted, b.clockIfNeeded(), noTime)
		}
	}()
	err = next(ctx)
	finished = true
	p.Done(err)
	return err
}

// Get runs fn through b like [Breaker.Execute] and returns its result. When
// the breaker refuses the call, it returns the zero T and an [*OpenError].
func Get[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	p, err := b.allow(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	finished := false
	defer func() {
		if !finished {
			p.finish(outcomeFailure, errAborted, b.clockIfNeeded(), noTime)
		}
	}()
	v, err := fn(ctx)
	finished = true
	p.Done(err)
	return v, err
}

// clockIfNeeded returns the time when finishing a call needs it, else noTime:
// exactly for a slow-call threshold, which measures the call; from the
// coarse clock for a time window alone, which only places the outcome in a
// bucket.
func (b *Breaker) clockIfNeeded() int64 {
	switch {
	case b.slowCall > 0:
		return b.now()
	case b.clocked:
		return b.coarseNow()
	}
	return noTime
}

// State returns the breaker's state now; see [Breaker.StateAt].
func (b *Breaker) State() State { return b.StateAt(time.Now()) }

// StateAt returns the breaker's state at time now. An open breaker whose open
// time is over at now reports HalfOpen; it moves there, and reports the
// change, when the next call arrives.
func (b *Breaker) StateAt(now time.Time) State {
	e := b.cur.Load()
	if e.state == Open && !e.forced && b.at(now) >= e.until {
		return HalfOpen
	}
	return e.state
}

// Counts is a snapshot of a breaker for a status page. The window totals are
// those of the current closed period; they are zero while open or half-open.
type Counts struct {
	State  State `json:"state"`
	Forced bool  `json:"forced"` // held by ForceOpen or ForceClosed

	Calls               int64   `json:"calls"` // calls in the window
	Successes           int64   `json:"successes"`
	Failures            int64   `json:"failures"`
	SlowCalls           int64   `json:"slow_calls"`
	FailureRate         float64 `json:"failure_rate"`   // Failures/Calls, 0 with no calls
	SlowCallRate        float64 `json:"slow_call_rate"` // SlowCalls/Calls, 0 with no calls
	ConsecutiveFailures int64   `json:"consecutive_failures"`

	// Remaining is how long an open breaker stays open; 0 otherwise, and
	// when forced open.
	Remaining time.Duration `json:"remaining"`
	// OpenDuration is the open time of the current open period, grown by
	// open_backoff after reopenings; 0 unless open and not forced.
	OpenDuration time.Duration `json:"open_duration"`
	// Probes is how many probe calls a half-open breaker has admitted and
	// not yet had released; ProbeSuccesses how many of them succeeded.
	Probes         int `json:"probes"`
	ProbeSuccesses int `json:"probe_successes"`
	// Trips counts the times the breaker opened on its own since it was
	// made, reopenings from half-open included.
	Trips uint64 `json:"trips"`
}

// Counts returns a snapshot of b now; see [Breaker.CountsAt].
func (b *Breaker) Counts() Counts { return b.CountsAt(time.Now()) }

// CountsAt returns a snapshot of b at time now. Like [Breaker.StateAt], it
// reports an open breaker whose open time is over as HalfOpen.
func (b *Breaker) CountsAt(now time.Time) Counts {
	t := b.at(now)
	b.mu.Lock()
	e := b.cur.Load()
	c := Counts{State: e.state, Forced: e.forced, Trips: b.trips}
	if e.state == HalfOpen {
		c.Probes, c.ProbeSuccesses = b.probes, b.probeOK
	}
	b.mu.Unlock()

	switch e.state {
	case Closed:
		var w windowCounts
		if e.timed != nil {
			w = e.timed.counts(t)
		} else {
			w = e.count.counts()
		}
		c.Calls, c.Failures, c.SlowCalls = w.calls, w.failures, w.slow
		c.Successes = w.calls - w.failures
		if w.calls > 0 {
			c.FailureRate = float64(w.failures) / float64(w.calls)
			c.SlowCallRate = float64(w.slow) / float64(w.calls)
		}
		c.ConsecutiveFailures = e.consec.Load()
	case Open:
		switch {
		case e.forced:
		case t >= e.until:
			c.State = HalfOpen
		default:
			c.Remaining = time.Duration(e.until - t)
			c.OpenDuration = b.openFor(e.reopens)
		}
	}
	return c
}

// ForceOpen opens the breaker and holds it open, refusing every call, until
// [Breaker.ForceClosed] or [Breaker.Reset].
func (b *Breaker) ForceOpen() { b.force(Open, true, ReasonForced) }

// ForceClosed closes the breaker and holds it closed, admitting every call
// however many fail, until [Breaker.ForceOpen] or [Breaker.Reset]. Outcomes
// are still counted, for [Breaker.Counts].
func (b *Breaker) ForceClosed() { b.force(Closed, true, ReasonForced) }

// Reset closes the breaker, clears its window and its open-time growth, and
// ends any ForceOpen or ForceClosed.
func (b *Breaker) Reset() { b.force(Closed, false, ReasonReset) }

func (b *Breaker) force(to State, forced bool, reason string) {
	b.mu.Lock()
	c, ok := b.toLocked(b.cur.Load(), to, forced, b.now(), reason, nil)
	b.mu.Unlock()
	if ok {
		b.report(context.Background(), c)
	}
}

// report tells the listener and the logger about a state change, and the
// listeners of ctx, the context of the call that caused it. It must be
// called without b.mu held.
func (b *Breaker) report(ctx context.Context, c change) {
	holdfast.EmitContext(ctx, b.cfg.Listener, holdfast.Event{Source: holdfast.KindBreaker,
		Policy: b.cfg.Name,
		Kind:   holdfast.EventStateChange,
		From:   c.from.String(),
		To:     c.to.String(),
		Reason: c.reason,
		Delay:  c.open,
		Err:    c.err,
	})
	if l := b.cfg.Logger; l != nil {
		attrs := []slog.Attr{
			slog.String("breaker", b.cfg.Name),
			slog.String("from", c.from.String()),
			slog.String("to", c.to.String()),
			slog.String("reason", c.reason),
		}
		if c.open > 0 {
			attrs = append(attrs, slog.Duration("open_duration", c.open))
		}
		if c.err != nil {
			attrs = append(attrs, slog.Any("error", c.err))
		}
		l.LogAttrs(context.Background(), slog.LevelInfo, "breaker state change", attrs...)
	}
}

// reject builds the error for a call refused by epoch e at time now and
// reports it, to the listeners of the call's context ctx too. It must be
// called without b.mu held.
func (b *Breaker) reject(ctx context.Context, e *epoch, now int64) error {
	err := &OpenError{Name: b.cfg.Name, State: e.state, Forced: e.forced}
	if e.state == Open && !e.forced && e.until > now {
		err.Remaining = time.Duration(e.until - now)
	}
	holdfast.EmitContext(ctx, b.cfg.Listener, holdfast.Event{Source: holdfast.KindBreaker,
		Policy: b.cfg.Name,
		Kind:   holdfast.EventRejected,
		Reason: holdfast.ReasonBreakerOpen,
		Delay:  err.Remaining,
		Err:    err,
	})
	if l := b.cfg.Logger; l != nil && l.Enabled(context.Background(), slog.LevelDebug) {
		l.LogAttrs(context.Background(), slog.LevelDebug, "breaker rejected a call",
			slog.String("breaker", b.cfg.Name), slog.String("state", e.state.String()),
			slog.Duration("retry_after", err.Remaining))
	}
	return err
}
