package holdfast

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Pipeline runs calls that return a T through a fixed chain of policies. Build
// it once with [New] or [NewOrdered] and share it: it is safe for concurrent
// use, and its zero value is not usable.
//
// When no stage can run the call concurrently or outlive it (no hedge and no
// timeout), a call whose first attempt succeeds allocates nothing: the
// per-call state is recycled.
type Pipeline[T any] struct {
	stages   []stage[T]
	checkers []func(context.Context, T) error // Checkers' CheckContext, or Check
	// concurrent is set when a stage may call next concurrently or return
	// before next does (hedge, timeout). Then per-call state is locked and
	// never recycled, because a straggling attempt may still write to it.
	concurrent bool
	pool       sync.Pool // *frame[T], only when !concurrent
}

type stage[T any] struct {
	policy  Policy
	recover Recoverer[T] // set for fallbacks: the pipeline substitutes the result
}

// Concurrent is implemented by policies whose Execute may call next again
// before an earlier call has returned, or return before next has (such as a
// hedge, or a timeout that stops waiting for work that ignores cancellation).
// Policies of Kind KindHedge or KindTimeout are treated as concurrent without it.
type Concurrent interface {
	Concurrent() bool
}

// ErrNilPolicy is returned by [New] and [NewOrdered] for a nil policy.
var ErrNilPolicy = errors.New("holdfast: nil policy")

// New builds a pipeline whose stages run in the order given, the first
// outermost, as every Go middleware chain does: New(timeout, retry) bounds
// the whole call, New(retry, timeout) each attempt. [Recommended] returns
// policies in the order that suits most calls.
func New[T any](policies ...Policy) (*Pipeline[T], error) {
	p := &Pipeline[T]{}
	for i, pol := range policies {
		if pol == nil {
			return nil, fmt.Errorf("%w at position %d", ErrNilPolicy, i)
		}
		s := stage[T]{policy: pol}
		if r, ok := pol.(Recoverer[T]); ok {
			s.recover = r
		}
		if c, ok := pol.(ContextChecker[T]); ok {
			p.checkers = append(p.checkers, c.CheckContext)
		} else if c, ok := pol.(Checker[T]); ok {
			p.checkers = append(p.checkers, func(_ context.Context, v T) error { return c.Check(v) })
		}
		if isConcurrent(pol) {
			p.concurrent = true
		}
		p.stages = append(p.stages, s)
	}
	return p, nil
}

// NewOrdered is [New], which keeps the order given.
//
// Deprecated: use New; New no longer reorders its policies.
func NewOrdered[T any](policies ...Policy) (*Pipeline[T], error) { return New[T](policies...) }

// Recommended returns a copy of policies in the order that suits most
// calls, outermost first: fallback, retry, breaker, hedge, rate limit,
// bulkhead or adaptive limit, timeout, guard, then policies of any other
// kind; policies of the same kind keep the order given. A retry outside the
// breaker sees its refusals (and their Retry-After); a timeout inside the
// retry bounds each attempt. Use it as New(Recommended(ps...)...).
func Recommended(policies ...Policy) []Policy {
	ordered := slices.Clone(policies)
	slices.SortStableFunc(ordered, func(a, b Policy) int { return int(kindOf(a)) - int(kindOf(b)) })
	return ordered
}

// MustNew is like [New] but panics on error. It suits package-level pipelines.
func MustNew[T any](policies ...Policy) *Pipeline[T] {
	p, err := New[T](policies...)
	if err != nil {
		panic(err)
	}
	return p
}

func kindOf(p Policy) Kind {
	if k, ok := p.(Kinded); ok {
		return k.Kind()
	}
	return KindOther
}

func isConcurrent(p Policy) bool {
	if c, ok := p.(Concurrent); ok {
		return c.Concurrent()
	}
	k := kindOf(p)
	return k == KindHedge || k == KindTimeout
}

// Policies returns the pipeline's stages, outermost first.
func (p *Pipeline[T]) Policies() []Policy {
	out := make([]Policy, len(p.stages))
	for i, s := range p.stages {
		out[i] = s.policy
	}
	return out
}

// Get runs fn through p and returns its result: the successful attempt's, a
// fallback's, or, when every attempt failed, the last attempt's together with
// the error.
func Get[T any](ctx context.Context, p *Pipeline[T], fn func(context.Context) (T, error)) (T, error) {
	return p.Get(ctx, fn)
}

// Get runs fn through p; see the package-level [Get].
func (p *Pipeline[T]) Get(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	f := p.frame()
	f.fn = fn
	return p.finish(f, f.nexts[0](ctx))
}

// Run runs fn, which returns only an error, through p.
func (p *Pipeline[T]) Run(ctx context.Context, fn func(context.Context) error) error {
	f := p.frame()
	f.fnErr = fn
	_, err := p.finish(f, f.nexts[0](ctx))
	return err
}

func (p *Pipeline[T]) frame() *frame[T] {
	if !p.concurrent {
		if f, ok := p.pool.Get().(*frame[T]); ok {
			return f
		}
	}
	return newFrame(p)
}

func (p *Pipeline[T]) finish(f *frame[T], err error) (T, error) {
	if p.concurrent {
		f.mu.Lock()
		out := f.out
		f.sealed = true // stragglers may still run; their results are dropped
		f.mu.Unlock()
		return out, err
	}
	out := f.out
	var zero T
	f.out, f.fn, f.fnErr = zero, nil, nil
	p.pool.Put(f)
	return out, err
}

// frame is the state of one call through a pipeline. Its nexts closures are
// built once per frame, so a recycled frame costs no allocation.
type frame[T any] struct {
	p     *Pipeline[T]
	fn    func(context.Context) (T, error)
	fnErr func(context.Context) error
	nexts []func(context.Context) error // nexts[i] runs stage i; the last runs the call

	// mu guards out, won and sealed, and is used only when p.concurrent.
	mu     sync.Mutex
	out    T
	won    bool // a successful result is stored; later results are dropped
	sealed bool // the call has returned; later results are dropped
}

// newFrame builds a frame's closures from the innermost out, each holding
// its stage's policy and the next closure itself: a stage costs one
// indirect call and one interface call, with nothing to look up on the way.
func newFrame[T any](p *Pipeline[T]) *frame[T] {
	f := &frame[T]{p: p, nexts: make([]func(context.Context) error, len(p.stages)+1)}
	f.nexts[len(p.stages)] = f.call
	for i := len(p.stages) - 1; i >= 0; i-- {
		next := f.nexts[i+1]
		if r := p.stages[i].recover; r != nil {
			f.nexts[i] = func(ctx context.Context) error { return f.recoverStage(ctx, r, next) }
			continue
		}
		pol := p.stages[i].policy
		f.nexts[i] = func(ctx context.Context) error { return pol.Execute(ctx, next) }
	}
	return f
}

// recoverStage runs a fallback's stage: next, and on failure the
// recoverer, whose result the pipeline substitutes.
func (f *frame[T]) recoverStage(ctx context.Context, r Recoverer[T], next func(context.Context) error) error {
	err := next(ctx)
	if err == nil {
		return nil
	}
	v, rerr, ok := r.Recover(ctx, err)
	if !ok {
		return err
	}
	f.store(v, rerr, true)
	return rerr
}

// call runs the caller's function once, vets its result with the checkers and
// stores it.
func (f *frame[T]) call(ctx context.Context) error {
	var v T
	var err error
	if f.fnErr != nil {
		err = f.fnErr(ctx)
	} else {
		v, err = f.fn(ctx)
	}
	if err == nil {
		for _, c := range f.p.checkers {
			if cerr := c(ctx, v); cerr != nil {
				var zero T
				v, err = zero, cerr // a result that breaks an invariant is never returned
				break
			}
		}
	}
	f.store(v, err, false)
	return err
}

func (f *frame[T]) store(v T, err error, final bool) {
	if !f.p.concurrent {
		f.out = v
		return
	}
	f.mu.Lock()
	if !f.won && !f.sealed {
		f.out = v
		f.won = err == nil || final
	}
	f.mu.Unlock()
}
