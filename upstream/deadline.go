package upstream

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast/internal/ctxkey"
)

// WithDeadline returns a copy of parent that is done at d, when parent is
// done, or when cancel is called, as context.WithDeadline's is, but that
// arms no timer while only this package's HTTP/1.1 transport watches it:
// the transport keeps the deadline on the connection, as it keeps a
// per-try one ([RoundTripUntil]), and watches parent for the rest. A
// request that meets nothing else watching its context (Done, a derived
// context, context.Cause, a dial) costs no timer and no registration of
// its own with parent. The first of those builds a real
// context.WithDeadline, arming its timer then, so that every other use
// behaves as usual.
//
// It is for a proxy's route deadline: one context per request, seldom
// watched but by the transport.
func WithDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	c := &deadlineCtx{parent: parent, deadline: d}
	if ctxkey.CancelCtx == nil {
		c.real() // the key was not found: no lazy path (see ctxkey.CancelCtx)
	}
	return c, c.cancel
}

// deadlineCtx is the context WithDeadline returns. It is safe for
// concurrent use.
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time
	// inner is the real context, once built; nil until then.
	inner atomic.Pointer[realCtx]
	// mu guards ended and building inner.
	mu    sync.Mutex
	ended bool // cancel was called
}

type realCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// unarmed returns the parent of ctx and its deadline, when ctx is a context
// of WithDeadline that nothing has armed: then the caller may keep the
// deadline on its connection and watch parent alone.
func unarmed(ctx context.Context) (parent context.Context, d time.Time, ok bool) {
	c, ok := ctx.(*deadlineCtx)
	if !ok || c.inner.Load() != nil {
		return nil, time.Time{}, false
	}
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended {
		return nil, time.Time{}, false
	}
	return c.parent, c.deadline, true
}

// Deadline returns d, or the parent's deadline when earlier.
func (c *deadlineCtx) Deadline() (time.Time, bool) {
	if pd, ok := c.parent.Deadline(); ok && pd.Before(c.deadline) {
		return pd, true
	}
	return c.deadline, true
}

// Done returns a channel closed when the context is done; the first call
// arms the deadline's timer.
func (c *deadlineCtx) Done() <-chan struct{} { return c.real().Done() }

// Err returns nil while the context is live; then the parent's error,
// context.DeadlineExceeded once the deadline has passed, or
// context.Canceled once cancel was called before it.
func (c *deadlineCtx) Err() error {
	if r := c.inner.Load(); r != nil {
		return r.ctx.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended || !time.Now().Before(c.deadline) {
		// As the timer or cancel would have: build the real context, done
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
	return fmt.Sprintf("%v.WithDeadline(%v [upstream])", c.parent, c.deadline)
}

// cancel ends the context, as context.WithDeadline's cancel does.
func (c *deadlineCtx) cancel() {
	c.mu.Lock()
	c.ended = true
	r := c.inner.Load()
	c.mu.Unlock()
	if r != nil {
		r.cancel()
	}
}

// real returns the real context, building it the first time: a
// context.WithDeadline of the parent, canceled at once when cancel was
// called before.
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
	r.ctx, r.cancel = context.WithDeadline(c.parent, c.deadline)
	if c.ended {
		r.cancel()
	}
	c.inner.Store(r)
	return r.ctx
}
