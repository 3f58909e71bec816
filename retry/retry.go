package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Retry runs a call again when it fails with a retryable error, waiting a
// jittered exponential backoff (or the error's Retry-After hint) between
// attempts, within a number of attempts, the caller's deadline and an optional
// retry [Budget]. Create one with [New]; the zero value is not usable.
//
// A Retry is safe for concurrent use; one policy serves every call.
type Retry struct {
	cfg    Config  // defaults applied; Budget is the budget in use, BudgetConfig nil
	budget *Budget // nil for no budget
	rand   func() float64
}

// Interface guards.
var (
	_ holdfast.Policy = (*Retry)(nil)
	_ holdfast.Named  = (*Retry)(nil)
	_ holdfast.Kinded = (*Retry)(nil)
)

// New returns a Retry configured by c, after applying defaults to its zero
// fields, or the error from [Config.Validate].
func New(c Config) (*Retry, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := &Retry{cfg: c, budget: c.Budget, rand: c.Rand}
	if c.BudgetConfig != nil {
		r.budget = &Budget{}
		r.budget.initLocked(*c.BudgetConfig)
		r.cfg.Budget, r.cfg.BudgetConfig = r.budget, nil
	}
	if r.rand == nil {
		r.rand = rand.Float64
	}
	return r, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// tests, examples and package-level variables.
func MustNew(c Config) *Retry {
	r, err := New(c)
	if err != nil {
		panic(err)
	}
	return r
}

// Name returns the policy's configured name.
func (r *Retry) Name() string { return r.cfg.Name }

// Kind returns holdfast.KindRetry.
func (r *Retry) Kind() holdfast.Kind { return holdfast.KindRetry }

// Config returns r's configuration with defaults applied. Its Budget is the
// budget r uses, whether shared or built from a BudgetConfig, and its
// BudgetConfig is nil; [Budget.Config] describes the budget.
func (r *Retry) Config() Config { return r.cfg }

// Budget returns the retry budget r draws on, or nil if it has none.
func (r *Retry) Budget() *Budget { return r.budget }

// Retryable reports whether an attempt that failed with err may be retried as
// far as the error goes: never for nil, context.Canceled or errors marked by
// holdfast.Permanent; otherwise as [Config].RetryIf says, and yes without it.
func (r *Retry) Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || holdfast.IsPermanent(err) {
		return false
	}
	return r.cfg.RetryIf == nil || r.cfg.RetryIf(err)
}

// Execute calls next until it succeeds or retrying stops, and returns:
//
//   - nil when an attempt succeeds;
//   - the attempt's error, as it is, when it is not retryable (see
//     [Retry.Retryable]), when ctx is done, when its Retry-After hint exceeds
//     MaxRetryAfter, or when the wait before the next attempt would reach
//     ctx's deadline: Execute never sleeps into a deadline, it gives up at once;
//   - an [*ExhaustedError] matching [ErrAttemptsExhausted] or
//     [ErrBudgetExhausted] when the attempts or the budget run out;
//   - an error matching both ctx.Err() and the last error when ctx ends during
//     a wait.
//
// If ctx is already done, Execute returns ctx.Err() without calling next.
// Otherwise each call records one request in the budget. When the first
// attempt succeeds and there is no PerTryTimeout, Execute does not allocate.
func (r *Retry) Execute(ctx context.Context, next func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.budget != nil {
		r.budget.RecordRequest()
	}
	var prev time.Duration
	for n := 1; ; n++ {
		holdfast.EmitContext(ctx, r.cfg.Listener, holdfast.Event{Source: holdfast.KindRetry, Policy: r.cfg.Name, Kind: holdfast.EventAttempt, Attempt: n})
		err := r.attempt(ctx, next)
		if err == nil {
			return nil
		}
		wait, final := r.decide(ctx, n, prev, err)
		if final != nil {
			return final
		}
		if werr := sleep(ctx, wait); werr != nil {
			r.debug(ctx, "retry: context ended while waiting", n, wait, werr)
			return fmt.Errorf("retry: %w while waiting to retry after attempt %d: %w", werr, n, err)
		}
		prev = wait
	}
}

// attempt runs next once, under the per-try timeout if there is one.
func (r *Retry) attempt(ctx context.Context, next func(context.Context) error) error {
	if r.cfg.PerTryTimeout <= 0 {
		return next(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, r.cfg.PerTryTimeout)
	defer cancel()
	return next(tctx)
}

// decide is called after attempt n failed with err. It returns the wait
// before the next attempt, or the error Execute returns if there is none.
func (r *Retry) decide(ctx context.Context, n int, prev time.Duration, err error) (time.Duration, error) {
	if ctx.Err() != nil {
		return 0, err
	}
	deadline, _ := ctx.Deadline()
	return r.decideAt(ctx, time.Now(), deadline, n, prev, err)
}

// DecideAt is the decision [Retry.Execute] makes after attempt n (1 for the
// first) failed with err at now, for a caller whose deadline is deadline
// (the zero Time for none), prev being the wait before attempt n (zero for
// the first). It returns the wait before attempt n+1, or, when there is to
// be none, the error Execute returns: err itself when it may not be retried
// ([Retry.Retryable]), when its Retry-After hint exceeds
// [Config].MaxRetryAfter, or when the wait would reach the deadline; an
// [*ExhaustedError] when the attempts or the budget are spent. The budget is
// asked last, so it is charged only for a retry that is granted. DecideAt
// emits the events Execute emits for the decision (EventRetry, or
// EventRejected for the budget).
//
// Callers that run attempts themselves, such as the proxy, use it to retry
// exactly as Execute does; the caller checks its own context first. Having
// no context, DecideAt sends its events to the configured Listener only.
func (r *Retry) DecideAt(now, deadline time.Time, n int, prev time.Duration, err error) (wait time.Duration, final error) {
	return r.decideAt(context.Background(), now, deadline, n, prev, err)
}

// decideAt is DecideAt for the call whose context is ctx, which hears the
// events too.
func (r *Retry) decideAt(ctx context.Context, now, deadline time.Time, n int, prev time.Duration, err error) (wait time.Duration, final error) {
	if !r.Retryable(err) {
		return 0, err
	}
	if n >= r.cfg.Attempts {
		return 0, &ExhaustedError{Reason: ErrAttemptsExhausted, Attempts: n, Last: err}
	}
	wait, ok := r.Backoff(n, prev, err)
	if !ok {
		r.debug(ctx, "retry: Retry-After hint exceeds max_retry_after; giving up", n, wait, err)
		return 0, err
	}
	// Reaching the deadline exactly is giving up too: the next attempt would
	// start with a context that is already done.
	if !deadline.IsZero() && !now.Add(wait).Before(deadline) {
		r.debug(ctx, "retry: backoff would reach the deadline; giving up", n, wait, err)
		return 0, err
	}
	if r.budget != nil && !r.budget.TryRetryAt(now) {
		holdfast.EmitContext(ctx, r.cfg.Listener, holdfast.Event{Source: holdfast.KindRetry,
			Policy: r.cfg.Name, Kind: holdfast.EventRejected, Attempt: n,
			Reason: holdfast.ReasonBudgetExhausted, Err: err,
		})
		r.debug(ctx, "retry: budget exhausted", n, 0, err)
		return 0, &ExhaustedError{Reason: ErrBudgetExhausted, Attempts: n, Last: err}
	}
	holdfast.EmitContext(ctx, r.cfg.Listener, holdfast.Event{Source: holdfast.KindRetry,
		Policy: r.cfg.Name, Kind: holdfast.EventRetry, Attempt: n, Delay: wait, Err: err,
	})
	r.debug(ctx, "retry: retrying", n, wait, err)
	return wait, nil
}

// sleep waits d or until ctx is done, and returns ctx.Err() in the latter case.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *Retry) debug(ctx context.Context, msg string, attempt int, wait time.Duration, err error) {
	l := r.cfg.Logger
	if l == nil || !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.LogAttrs(ctx, slog.LevelDebug, msg,
		slog.String("policy", r.cfg.Name),
		slog.Int("attempt", attempt),
		slog.Duration("wait", wait),
		slog.Any("error", err))
}

// Get runs fn under r like [Retry.Execute] and returns the last attempt's
// result with Execute's error. A function that wants a result retried (an
// HTTP 503 response, say) returns it together with an error; when retrying
// stops, Get hands back that last result, so the caller can still read it.
func Get[T any](ctx context.Context, r *Retry, fn func(context.Context) (T, error)) (T, error) {
	var res T
	err := r.Execute(ctx, func(ctx context.Context) error {
		var err error
		res, err = fn(ctx)
		return err
	})
	return res, err
}
