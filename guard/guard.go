package guard

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// State is whether a [Guard] admits calls.
type State int32

// The states of a [Guard].
const (
	// StateActive: calls run and their results are checked.
	StateActive State = iota
	// StateSilenced: calls fail fast with ErrSilenced until probes pass.
	StateSilenced
)

// String returns "active" or "silenced".
func (s State) String() string {
	switch s {
	case StateActive:
		return "active"
	case StateSilenced:
		return "silenced"
	}
	return "unknown"
}

// Guard withholds results that break invariants and quarantines a component
// that breaks them too often; see the package documentation for the model.
// Build one with [New]; the zero Guard is not usable. A Guard is safe for
// concurrent use. Call [Guard.Close] when done with a Guard that has a
// [Config.Probe], to stop its probe goroutine.
type Guard[T any] struct {
	cfg Config[T]

	// state mirrors silenced for the lock-free fast path of admit. It is
	// only written with mu held.
	state atomic.Int32

	done       chan struct{}      // closed by Close
	probeCtx   context.Context    // parent of every probe's context
	stopProbes context.CancelFunc // cancels probeCtx; called by Close
	probers    sync.WaitGroup     // the running probe goroutine, if any

	// mu guards recent, samples, cause, silence, passes, nextProbe,
	// trialRunning and closed, and every write of state.
	mu           sync.Mutex
	recent       window    // violations while active
	samples      []error   // the last violations while active, for the report
	cause        error     // the violation that silenced the guard
	silence      Report    // the report of the current silence
	passes       int       // probes passed in a row while silenced
	nextProbe    time.Time // when the next probe or trial may run
	trialRunning bool      // a trial call is in flight (no Probe)
	closed       bool      // Close was called
}

var (
	_ holdfast.Policy              = (*Guard[int])(nil)
	_ holdfast.Checker[int]        = (*Guard[int])(nil)
	_ holdfast.ContextChecker[int] = (*Guard[int])(nil)
	_ holdfast.Named               = (*Guard[int])(nil)
	_ holdfast.Kinded              = (*Guard[int])(nil)
)

// New returns a Guard for cfg after applying defaults, or the
// [*holdfast.ConfigError]s that make cfg invalid.
func New[T any](cfg Config[T]) (*Guard[T], error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Guard[T]{
		cfg:    cfg,
		done:   make(chan struct{}),
		recent: newWindow(cfg.Violations),
	}
	g.probeCtx, g.stopProbes = context.WithCancel(context.Background())
	return g, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// examples, tests and package-level variables.
func MustNew[T any](cfg Config[T]) *Guard[T] {
	g, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return g
}

// Name returns the configured name, "guard" by default.
func (g *Guard[T]) Name() string { return g.cfg.Name }

// Kind returns [holdfast.KindGuard].
func (g *Guard[T]) Kind() holdfast.Kind { return holdfast.KindGuard }

// State reports whether the guard is admitting calls.
func (g *Guard[T]) State() State { return State(g.state.Load()) }

// Check runs [Config.Check] on result, implementing [holdfast.Checker]. A
// violation is counted toward silencing and returned as an
// [*InvariantError]; the caller must then drop result. Its events go to the
// configured Listener only; see [Guard.CheckContext].
func (g *Guard[T]) Check(result T) error { return g.CheckContext(context.Background(), result) }

// CheckContext is [Guard.Check] for a result of the call whose context is
// ctx, whose listeners hear the violation too, implementing
// [holdfast.ContextChecker]: a [holdfast.Pipeline] calls it.
func (g *Guard[T]) CheckContext(ctx context.Context, result T) error {
	if g.cfg.Check == nil {
		return nil
	}
	err := g.cfg.Check(result)
	if err == nil {
		return nil
	}
	ie := &InvariantError{Policy: g.cfg.Name, Err: err, owner: g}
	g.violation(ctx, ie)
	return ie
}

// Get runs fn unless the guard is silenced, and returns its result if it
// passes [Config.Check]. A result that breaks an invariant is never
// returned: Get returns the zero T and an [*InvariantError]. An error from fn
// is returned with the zero T; it counts as a violation when it matches
// [ErrInvariant]. While silenced Get returns a [*SilencedError] without
// calling fn (except for trial calls when there is no Probe). Get does not
// allocate when fn succeeds and Check passes without allocating.
func (g *Guard[T]) Get(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	trial, err := g.admit(ctx)
	if err != nil {
		return zero, err
	}
	if trial {
		return g.getTrial(ctx, fn)
	}
	return g.get(ctx, fn)
}

// get runs fn and checks its result.
func (g *Guard[T]) get(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	v, err := fn(ctx)
	if err != nil {
		if g.counts(err) {
			g.violation(ctx, err)
		}
		return zero, err
	}
	if err := g.CheckContext(ctx, v); err != nil {
		return zero, err
	}
	return v, nil
}

// getTrial is get for a trial call; the deferred endTrial frees the trial
// slot even if fn panics, which counts as a failed trial.
func (g *Guard[T]) getTrial(ctx context.Context, fn func(context.Context) (T, error)) (v T, err error) {
	err = errTrialPanicked
	defer func() { g.endTrial(ctx, err) }()
	return g.get(ctx, fn)
}

// Execute runs next unless the guard is silenced, implementing
// [holdfast.Policy]. While silenced it returns a [*SilencedError] without
// calling next (except for trial calls when there is no Probe). An error from
// next that matches [ErrInvariant] counts as a violation, unless this guard's
// own Check already counted it. When next succeeds Execute does not
// allocate.
func (g *Guard[T]) Execute(ctx context.Context, next func(context.Context) error) error {
	trial, err := g.admit(ctx)
	if err != nil {
		return err
	}
	if trial {
		return g.executeTrial(ctx, next)
	}
	return g.execute(ctx, next)
}

// execute runs next and counts the violation it reports, if any.
func (g *Guard[T]) execute(ctx context.Context, next func(context.Context) error) error {
	err := next(ctx)
	if err != nil && g.counts(err) {
		g.violation(ctx, err)
	}
	return err
}

// executeTrial is execute for a trial call, freeing the trial slot as
// getTrial does.
func (g *Guard[T]) executeTrial(ctx context.Context, next func(context.Context) error) (err error) {
	err = errTrialPanicked
	defer func() { g.endTrial(ctx, err) }()
	return g.execute(ctx, next)
}

// counts reports whether err is a violation this guard has not counted yet.
// A silenced inner guard's refusal is not a wrong answer, so it never counts.
func (g *Guard[T]) counts(err error) bool {
	if !errors.Is(err, ErrInvariant) || errors.Is(err, ErrSilenced) {
		return false
	}
	ie, ok := errors.AsType[*InvariantError](err)
	return !ok || ie.owner != any(g)
}

// Close stops the probe goroutine, if one is running, and waits for it to
// return; a probe in progress sees its context cancelled. A guard silenced at
// or after Close stays silenced unless it has no Probe (trial calls still
// work). Close is idempotent and always returns nil.
func (g *Guard[T]) Close() error {
	g.mu.Lock()
	first := !g.closed
	g.closed = true
	g.mu.Unlock()
	if first {
		close(g.done)
		g.stopProbes()
	}
	g.probers.Wait()
	return nil
}
