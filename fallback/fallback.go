package fallback

import (
	"context"

	"github.com/holdfast-dev/holdfast"
)

// Fallback replaces chosen failures with a substitute result of type T. Build
// one with [New]; the zero Fallback is not usable. A Fallback is immutable
// after New and safe for concurrent use.
type Fallback[T any] struct {
	cfg Config[T]
}

var (
	_ holdfast.Policy         = (*Fallback[int])(nil)
	_ holdfast.Recoverer[int] = (*Fallback[int])(nil)
	_ holdfast.Named          = (*Fallback[int])(nil)
	_ holdfast.Kinded         = (*Fallback[int])(nil)
)

// New returns a Fallback for cfg after applying defaults, or the
// [*holdfast.ConfigError] that makes cfg invalid.
func New[T any](cfg Config[T]) (*Fallback[T], error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Fallback[T]{cfg: cfg}, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// examples, tests and package-level variables.
func MustNew[T any](cfg Config[T]) *Fallback[T] {
	f, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return f
}

// Name returns the configured name, "fallback" by default.
func (f *Fallback[T]) Name() string { return f.cfg.Name }

// Kind returns [holdfast.KindFallback].
func (f *Fallback[T]) Kind() holdfast.Kind { return holdfast.KindFallback }

// Recover offers a replacement for the failure err, implementing
// [holdfast.Recoverer]. ok is false when err is nil or not one the fallback
// handles ([Config.On]); result and rerr are then zero and err, so a caller
// can pass them on unchanged. When ok is true, result and rerr are what the
// caller should get in place of the failure: Config.Value and nil, or what
// Config.Func returned, with a Func error wrapped in a [*FailedError].
func (f *Fallback[T]) Recover(ctx context.Context, err error) (result T, rerr error, ok bool) {
	if err == nil || !f.cfg.On(err) {
		return result, err, false
	}
	if f.cfg.Func == nil {
		result = f.cfg.Value
	} else {
		v, ferr := f.cfg.Func(ctx, err)
		if ferr != nil {
			if f.cfg.Logger != nil {
				f.cfg.Logger.WarnContext(ctx, "fallback failed", "policy", f.cfg.Name, "err", ferr, "cause", err)
			}
			return result, &FailedError{Policy: f.cfg.Name, Cause: err, Err: ferr}, true
		}
		result = v
	}
	if f.cfg.Logger != nil {
		f.cfg.Logger.DebugContext(ctx, "fallback used", "policy", f.cfg.Name, "cause", err)
	}
	holdfast.EmitContext(ctx, f.cfg.Listener, holdfast.Event{Source: holdfast.KindFallback, Policy: f.cfg.Name, Kind: holdfast.EventFallback, Err: err})
	return result, nil, true
}

// Execute runs next and, when it fails with an error the fallback handles,
// replaces the failure, implementing [holdfast.Policy]. A successful
// replacement makes Execute return nil; Execute has no result to carry, so the
// replacement value is dropped here and only delivered by [Fallback.Recover]
// and [Fallback.Get]. A failing Config.Func makes Execute return the
// [*FailedError]; unhandled errors are returned unchanged. When next succeeds
// Execute does not allocate.
func (f *Fallback[T]) Execute(ctx context.Context, next func(context.Context) error) error {
	err := next(ctx)
	if err == nil {
		return nil
	}
	_, rerr, _ := f.Recover(ctx, err)
	return rerr
}

// Get calls fn and returns its result, or the replacement when fn fails with
// an error the fallback handles. Errors it does not handle are returned with
// whatever value fn returned alongside them.
func (f *Fallback[T]) Get(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	v, err := fn(ctx)
	if err == nil {
		return v, nil
	}
	r, rerr, ok := f.Recover(ctx, err)
	if !ok {
		return v, err
	}
	return r, rerr
}

// Get calls fn under f; it is the function form of [Fallback.Get].
func Get[T any](ctx context.Context, f *Fallback[T], fn func(context.Context) (T, error)) (T, error) {
	return f.Get(ctx, fn)
}
