package bulkhead

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Bulkhead limits how many calls run at once, with a bounded FIFO queue for
// the calls that find every slot taken. Build one with [New]; the zero value
// is not usable. A Bulkhead is safe for concurrent use and must not be copied.
type Bulkhead struct {
	name         string
	limit        int
	queueCap     int
	queueTimeout time.Duration
	listener     holdfast.Listener
	logger       *slog.Logger

	// mu guards inFlight and waiters. Invariant: waiters is empty unless
	// inFlight == limit, because a released slot is handed to the head
	// waiter instead of being freed; so a newcomer that sees a free slot
	// never overtakes anyone.
	mu       sync.Mutex
	inFlight int
	waiters  waitQueue
}

var _ holdfast.Policy = (*Bulkhead)(nil)

// New returns a Bulkhead for c, or the [*holdfast.ConfigError]s of its
// invalid values.
func New(c Config) (*Bulkhead, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Bulkhead{
		name:         c.Name,
		limit:        c.Limit,
		queueCap:     c.Queue,
		queueTimeout: c.QueueTimeout,
		listener:     c.Listener,
		logger:       c.Logger,
	}, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// examples, tests and package-level variables with constant configs.
func MustNew(c Config) *Bulkhead {
	b, err := New(c)
	if err != nil {
		panic(err)
	}
	return b
}

// Name returns the configured name, "bulkhead" by default.
func (b *Bulkhead) Name() string { return b.name }

// Kind returns [holdfast.KindBulkhead].
func (b *Bulkhead) Kind() holdfast.Kind { return holdfast.KindBulkhead }

// Limit returns the most calls that may run at once.
func (b *Bulkhead) Limit() int { return b.limit }

// InFlight returns how many calls hold a slot now.
func (b *Bulkhead) InFlight() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight
}

// Queued returns how many calls are waiting for a slot now.
func (b *Bulkhead) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.len
}

// Execute runs next in a slot: it acquires one (queueing if it must), calls
// next, and releases the slot when next returns or panics. When no slot can
// be had it returns a [*FullError] matching [ErrFull], or the context's error
// if ctx ends first, without calling next. Execute allocates nothing when a
// slot is free.
func (b *Bulkhead) Execute(ctx context.Context, next func(context.Context) error) error {
	if err := b.Acquire(ctx); err != nil {
		return err
	}
	defer b.Release()
	return next(ctx)
}

// Get runs fn in a slot of b, like [Bulkhead.Execute], and returns its result.
func Get[T any](ctx context.Context, b *Bulkhead, fn func(context.Context) (T, error)) (T, error) {
	if err := b.Acquire(ctx); err != nil {
		var zero T
		return zero, err
	}
	defer b.Release()
	return fn(ctx)
}

// Acquire takes a slot, waiting in the queue when every slot is taken. It
// returns nil when the caller holds a slot, which it must give back with
// exactly one call to [Bulkhead.Release]. Otherwise it returns a [*FullError]
// (matching [ErrFull]) when the queue is full or the wait exceeds the queue
// timeout, or ctx.Err() when ctx ends before a slot is free; the caller then
// holds nothing. Acquire allocates nothing when a slot is free.
func (b *Bulkhead) Acquire(ctx context.Context) error {
	// A caller that has already given up should not take a slot that
	// someone else could use.
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	if b.inFlight < b.limit {
		b.inFlight++
		b.mu.Unlock()
		return nil
	}
	if b.waiters.len >= b.queueCap {
		b.mu.Unlock()
		return b.reject(ctx, &FullError{Reason: holdfast.ReasonOverloaded, Limit: b.limit, Queue: b.queueCap})
	}
	w := &waiter{ready: make(chan struct{})}
	b.waiters.pushBack(w)
	b.mu.Unlock()
	return b.wait(ctx, w)
}

// Release gives back a slot taken by a successful [Bulkhead.Acquire]. When
// calls are queued the slot goes straight to the oldest of them. Release
// panics when no slot is held, as that would corrupt the count.
func (b *Bulkhead) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inFlight == 0 {
		panic("bulkhead: Release without a matching Acquire")
	}
	b.releaseLocked()
}

// releaseLocked frees one slot, or hands it to the head waiter. The waiter is
// woken by closing its channel, which never blocks, so doing it under mu
// calls no user code.
func (b *Bulkhead) releaseLocked() {
	if w := b.waiters.popFront(); w != nil {
		w.granted = true
		close(w.ready)
		return
	}
	b.inFlight--
}

// wait blocks a queued caller until a slot is handed to it, its queue
// timeout passes or ctx ends.
func (b *Bulkhead) wait(ctx context.Context, w *waiter) error {
	start := time.Now()
	timer := time.NewTimer(b.queueTimeout)
	defer timer.Stop()
	select {
	case <-w.ready:
		b.queued(ctx, time.Since(start))
		return nil
	case <-ctx.Done():
		if b.leave(w) {
			// The slot arrived as ctx ended; pass it on rather than run a
			// call whose caller is gone.
			b.Release()
		}
		return ctx.Err()
	case <-timer.C:
		waited := time.Since(start)
		if b.leave(w) {
			b.queued(ctx, waited) // the slot won the race: use it
			return nil
		}
		return b.reject(ctx, &FullError{Reason: holdfast.ReasonQueueTimeout, Limit: b.limit, Queue: b.queueCap, Waited: waited})
	}
}

// leave takes w out of the queue at once, so its place is free for the next
// caller, and reports whether w had been granted a slot in the meantime (and
// so now holds it).
func (b *Bulkhead) leave(w *waiter) (granted bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted {
		return true
	}
	b.waiters.remove(w)
	return false
}

func (b *Bulkhead) queued(ctx context.Context, d time.Duration) {
	holdfast.EmitContext(ctx, b.listener, holdfast.Event{Source: holdfast.KindBulkhead, Policy: b.name, Kind: holdfast.EventQueued, Delay: d})
}

func (b *Bulkhead) reject(ctx context.Context, err *FullError) error {
	holdfast.EmitContext(ctx, b.listener, holdfast.Event{Source: holdfast.KindBulkhead, Policy: b.name, Kind: holdfast.EventRejected, Reason: err.Reason, Delay: err.Waited, Err: err})
	if b.logger != nil {
		b.logger.LogAttrs(ctx, slog.LevelDebug, "bulkhead: call refused",
			slog.String("policy", b.name), slog.String("reason", err.Reason), slog.Duration("waited", err.Waited))
	}
	return err
}
