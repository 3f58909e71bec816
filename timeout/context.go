package timeout

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast/internal/ctxkey"
)

// deadlineCtx is the context a call runs under with Config.Wait: it has the
// timeout's deadline but arms no timer until someone needs to be woken at
// it. Most of what a call asks of its context (Deadline, Value, Err) is
// answered from the parent, the deadline and a clock read; only Done, and
// context.Cause or a derived context (which look for the nearest canceler
// through Value), need a real cancelable context, and the first of them
// builds it with context.WithDeadlineCause, which arms the timer then. A
// call that never watches its context costs no timer.
//
// Once the call has returned, end cancels it, as the cancel function of a
// context.WithDeadline would: Err reports context.Canceled, or
// DeadlineExceeded when the deadline had passed. A deadlineCtx is safe for
// concurrent use, since the call may hand it to goroutines of its own.
type deadlineCtx struct {
	parent context.Context
	// base is the Timeout's base, with a monotonic reading, and deadline
	// this timeout's deadline in nanoseconds after it: reading the
	// monotonic clock alone (time.Since) costs half a time.Now.
	base     *time.Time
	deadline int64
	// inner is the real context, once built; nil until then.
	inner atomic.Pointer[realCtx]

	// mu guards ended and expired, and building inner.
	mu      sync.Mutex
	ended   bool // the call has returned
	expired bool // the deadline had passed when it returned
}

type realCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newDeadlineCtx(parent context.Context, base *time.Time, deadline int64) *deadlineCtx {
	c := &deadlineCtx{parent: parent, base: base, deadline: deadline}
	if ctxkey.CancelCtx == nil {
		c.real() // the key was not found: no lazy path (see ctxkey.CancelCtx)
	}
	return c
}

// deadlineTime returns this timeout's deadline as a time.Time.
func (c *deadlineCtx) deadlineTime() time.Time { return c.base.Add(time.Duration(c.deadline)) }

// now returns the time on the deadline's scale.
func (c *deadlineCtx) now() int64 { return int64(time.Since(*c.base)) }

// Deadline returns the timeout's deadline, or the parent's when earlier.
func (c *deadlineCtx) Deadline() (time.Time, bool) {
	d := c.deadlineTime()
	if pd, ok := c.parent.Deadline(); ok && pd.Before(d) {
		return pd, true
	}
	return d, true
}

// Done returns a channel closed at the deadline, when the parent is done, or
// when the call has returned. The first call arms the deadline's timer.
func (c *deadlineCtx) Done() <-chan struct{} { return c.real().Done() }

// Err returns nil while the call may go on; then the parent's error,
// context.DeadlineExceeded once the deadline has passed, or
// context.Canceled once the call has returned before it.
func (c *deadlineCtx) Err() error {
	if r := c.inner.Load(); r != nil {
		return r.ctx.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	ended, expired := c.ended, c.expired
	c.mu.Unlock()
	switch {
	case expired:
		return context.DeadlineExceeded
	case ended:
		return context.Canceled
	case c.now() >= c.deadline:
		// As the timer would have: build the real context, which is done
		// at once, so that Err and context.Cause agree from now on.
		return c.real().Err()
	}
	return nil
}

// Value returns the parent's value for key, except for the context
// package's own key for the nearest canceler, which the real context
// answers.
func (c *deadlineCtx) Value(key any) any {
	if key == ctxkey.CancelCtx {
		return c.real().Value(key)
	}
	return c.parent.Value(key)
}

// String describes the context the way the context package's own do.
func (c *deadlineCtx) String() string {
	return fmt.Sprintf("%v.WithDeadline(%v [timeout])", c.parent, c.deadlineTime())
}

// real returns the real cancelable context, building it the first time: a
// context.WithDeadlineCause of the parent, done at once when the deadline
// has passed (with cause ErrTimeout) or when the call has returned.
func (c *deadlineCtx) real() context.Context {
	if r := c.inner.Load(); r != nil {
		return r.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.inner.Load(); r != nil {
		return r.ctx
	}
	r := &realCtx{}
	if c.ended && !c.expired {
		r.ctx, r.cancel = context.WithCancel(c.parent)
		r.cancel()
	} else {
		r.ctx, r.cancel = context.WithDeadlineCause(c.parent, c.deadlineTime(), ErrTimeout)
		if c.ended {
			r.cancel() // expired: already done with ErrTimeout
		}
	}
	c.inner.Store(r)
	return r.ctx
}

// end marks the call returned at now (on the deadline's scale) and cancels
// the context. It reports whether this timeout's deadline had passed: the
// call timed out. A parent done first is no timeout of ours.
func (c *deadlineCtx) end(now int64) (timedOut bool) {
	c.mu.Lock()
	r := c.inner.Load()
	if r == nil {
		timedOut = c.parent.Err() == nil && now >= c.deadline
	}
	c.ended, c.expired = true, timedOut
	c.mu.Unlock()
	if r != nil {
		timedOut = context.Cause(r.ctx) == ErrTimeout
		r.cancel()
		if timedOut {
			c.mu.Lock()
			c.expired = true
			c.mu.Unlock()
		}
	}
	return timedOut
}
