package timeout

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Timeout bounds how long a call may take. Execute gives the call a context
// whose deadline is the timeout (or the caller's deadline, if earlier) and
// returns as soon as the deadline passes, with an error matching [ErrTimeout],
// whether or not the call has returned. A call that ignores its context keeps
// running in its own goroutine; when it finally returns, the Timeout reports
// how long it overran (see [Config].OnOverrun). Create one with [New]; the zero
// value is not usable.
//
// A Timeout is safe for concurrent use; one policy serves every call.
type Timeout struct {
	cfg Config // defaults applied
	// base anchors the Wait mode's clock: deadlines are kept as
	// nanoseconds after it, read with time.Since; clock reads the same scale
	// from holdfast's coarse clock.
	base  time.Time
	clock holdfast.CoarseClock
}

// Interface guards.
var (
	_ holdfast.Policy     = (*Timeout)(nil)
	_ holdfast.Named      = (*Timeout)(nil)
	_ holdfast.Kinded     = (*Timeout)(nil)
	_ holdfast.Concurrent = (*Timeout)(nil)
)

// New returns a Timeout configured by c, after applying defaults to its zero
// fields, or the error from [Config.Validate].
func New(c Config) (*Timeout, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	clock := holdfast.NewCoarseClock()
	return &Timeout{cfg: c, base: clock.Base(), clock: clock}, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// tests, examples and package-level variables.
func MustNew(c Config) *Timeout {
	t, err := New(c)
	if err != nil {
		panic(err)
	}
	return t
}

// Name returns the policy's configured name.
func (t *Timeout) Name() string { return t.cfg.Name }

// Kind returns holdfast.KindTimeout.
func (t *Timeout) Kind() holdfast.Kind { return holdfast.KindTimeout }

// Config returns t's configuration with defaults applied.
func (t *Timeout) Config() Config { return t.cfg }

// Timeout returns the configured limit.
func (t *Timeout) Timeout() time.Duration { return t.cfg.Timeout }

// Execute runs next in a new goroutine under a context that ends after the
// timeout, and returns:
//
//   - next's result, when it returns before Execute stops waiting; an error
//     it returns after the deadline passed comes back as a [*TimeoutError]
//     wrapping it;
//   - a [*TimeoutError], at the deadline, when next is still running;
//   - ctx's error, at once, when the caller's context ends first (its own
//     deadline is not this policy's timeout, so it is not an ErrTimeout).
//
// An abandoned next keeps running until it returns; its goroutine then cancels
// its context, reports the overrun and exits, so no goroutine outlives next.
// If next panics while Execute waits, Execute panics with the same value in
// the caller's goroutine; a panic after Execute returned crashes the program,
// as a panic in any goroutine does. If ctx is already done, Execute returns
// ctx.Err() without calling next.
func (t *Timeout) Execute(ctx context.Context, next func(context.Context) error) error {
	err, _ := t.run(ctx, next)
	return err
}

// Get runs fn under t like [Timeout.Execute] and returns its result. When
// Execute returns without waiting for fn, Get returns the zero T, and fn's
// eventual result is dropped.
func Get[T any](ctx context.Context, t *Timeout, fn func(context.Context) (T, error)) (T, error) {
	var res T
	err, returned := t.run(ctx, func(ctx context.Context) error {
		var err error
		res, err = fn(ctx)
		return err
	})
	if !returned {
		// fn may still be writing res: do not read it.
		var zero T
		return zero, err
	}
	return res, err
}

// The states of a call. Exactly one of the call's goroutine (on return) and
// the caller (on giving up) moves it out of running; the winner decides
// whether the result is delivered or the call is abandoned.
const (
	running int32 = iota
	returned
	abandoned
)

// call is one run of a function in its own goroutine.
type call struct {
	state atomic.Int32
	done  chan struct{} // closed when the function returned while the caller waited

	// Written by the call's goroutine before it leaves the running state.
	err      error
	timedOut bool // the deadline had passed when the function returned
	panicked bool
	panicVal any
	exited   bool // the function called runtime.Goexit

	// Written by the caller before it leaves the running state.
	gaveUp time.Time // when Execute stopped waiting
}

var errGoexit = errors.New("timeout: call exited its goroutine (runtime.Goexit) without returning")

// run is Execute; returned reports whether next returned before run did, so
// that its writes are visible to the caller.
func (t *Timeout) run(ctx context.Context, next func(context.Context) error) (err error, returned bool) {
	if err := ctx.Err(); err != nil {
		return err, false
	}
	if t.cfg.Wait {
		return t.runInline(ctx, next)
	}
	deadline := time.Now().Add(t.cfg.Timeout)
	cctx, cancel := context.WithDeadlineCause(ctx, deadline, ErrTimeout)
	c := &call{done: make(chan struct{})}
	go t.call(c, cctx, cancel, next)

	select {
	case <-c.done:
		return t.result(ctx, c, cancel), true
	case <-cctx.Done():
	}
	ours := context.Cause(cctx) == ErrTimeout
	if ours {
		c.gaveUp = deadline
	} else {
		c.gaveUp = time.Now()
	}
	if !c.state.CompareAndSwap(running, abandoned) {
		// next returned while the deadline passed; take its result.
		<-c.done
		return t.result(ctx, c, cancel), true
	}
	// The call's goroutine owns cancel from here on.
	if !ours {
		return ctx.Err(), false
	}
	err = &TimeoutError{Limit: t.cfg.Timeout, Err: context.DeadlineExceeded}
	t.timedOut(ctx, err)
	return err, false
}

// runInline is run for Config.Wait: the function runs on the caller's
// goroutine, and a return after the deadline is a timeout and an overrun.
// The call's context arms no timer unless the call watches it (see
// deadlineCtx).
func (t *Timeout) runInline(ctx context.Context, next func(context.Context) error) (error, bool) {
	deadline := int64(time.Since(t.base)) + int64(t.cfg.Timeout)
	cctx := newDeadlineCtx(ctx, &t.base, deadline)
	finished := false
	defer func() {
		if !finished { // next panicked or called runtime.Goexit
			cctx.end(cctx.now())
		}
	}()
	callErr := next(cctx)
	finished = true
	// Whether the call overran is judged by the coarse clock, which may be
	// up to about a millisecond late: like the timer it stands in for, which
	// fires a little after the deadline, it lets a call that returns just
	// after the deadline count as in time. The deadline itself, which the
	// call sees, is exact.
	now := int64(t.clock.Since())
	if !cctx.end(now) {
		return callErr, true
	}
	if overrun := time.Duration(now - deadline); overrun >= t.cfg.OverrunThreshold {
		t.overran(ctx, overrun, &call{err: callErr})
	}
	cause := callErr
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	err := &TimeoutError{Limit: t.cfg.Timeout, Err: cause}
	t.timedOut(ctx, err)
	return err, true
}

// result turns a call that returned while the caller waited into Execute's
// result.

func (t *Timeout) result(ctx context.Context, c *call, cancel context.CancelFunc) error {
	cancel()
	switch {
	case c.panicked:
		panic(c.panicVal)
	case c.exited:
		return errGoexit
	case c.err != nil && c.timedOut:
		err := &TimeoutError{Limit: t.cfg.Timeout, Err: c.err}
		t.timedOut(ctx, err)
		return err
	}
	return c.err
}

// call runs next on its own goroutine.
func (t *Timeout) call(c *call, ctx context.Context, cancel context.CancelFunc, next func(context.Context) error) {
	ok := false
	defer func() {
		if !ok {
			c.panicVal = recover()
			c.panicked = c.panicVal != nil // panic(nil) recovers a *runtime.PanicNilError
			c.exited = !c.panicked
		}
		c.timedOut = context.Cause(ctx) == ErrTimeout
		if c.state.CompareAndSwap(running, returned) {
			close(c.done)
			return
		}
		// Abandoned: the caller has returned and will not read c again.
		overrun := time.Since(c.gaveUp)
		cancel()
		if overrun >= t.cfg.OverrunThreshold {
			t.overran(ctx, overrun, c)
		}
		if c.panicked {
			panic(c.panicVal)
		}
	}()
	c.err = next(ctx)
	ok = true
}

func (t *Timeout) timedOut(ctx context.Context, err error) {
	holdfast.EmitContext(ctx, t.cfg.Listener, holdfast.Event{Source: holdfast.KindTimeout, Policy: t.cfg.Name, Kind: holdfast.EventTimeout, Err: err})
	if l := t.cfg.Logger; l != nil && l.Enabled(ctx, slog.LevelDebug) {
		l.LogAttrs(ctx, slog.LevelDebug, "timeout: call timed out",
			slog.String("policy", t.cfg.Name), slog.Duration("timeout", t.cfg.Timeout))
	}
}

// overran reports that call c, run under ctx, returned overrun after its
// deadline. For an abandoned call that is after Execute returned; ctx's
// listeners hear it all the same, late.
func (t *Timeout) overran(ctx context.Context, overrun time.Duration, c *call) {
	err := c.err
	if c.exited {
		err = errGoexit
	}
	holdfast.EmitContext(ctx, t.cfg.Listener, holdfast.Event{Source: holdfast.KindTimeout, Policy: t.cfg.Name, Kind: holdfast.EventOverrun, Delay: overrun, Err: err})
	if t.cfg.OnOverrun != nil {
		t.cfg.OnOverrun(overrun, err)
	}
	if l := t.cfg.Logger; l != nil {
		l.LogAttrs(context.Background(), slog.LevelWarn, "timeout: call kept running after its deadline",
			slog.String("policy", t.cfg.Name), slog.Duration("timeout", t.cfg.Timeout),
			slog.Duration("overrun", overrun), slog.Any("error", err))
	}
}

// Concurrent reports whether Execute may return before the call does, which
// tells a holdfast.Pipeline not to recycle the call's state: true unless
// Config.Wait is set.
func (t *Timeout) Concurrent() bool { return !t.cfg.Wait }
