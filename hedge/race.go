package hedge

import (
	"context"
	"sync"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Race runs fn under h as [Get] does, for values that hold resources and
// must outlive the call, such as an HTTP response whose body is still to be
// read. It differs from Get in three ways:
//
//   - Each attempt runs under a context of its own, derived from ctx. The
//     returned value's context stays live after Race returns, until the
//     caller calls stop; every other attempt's context is cancelled, with
//     cause [ErrLost], as soon as the call is decided.
//   - Every value Race does not return goes to release, exactly once: a
//     loser's, whether it succeeded or failed, and that of a failure a later
//     one replaced, including values that come back after Race returned
//     (release then runs on the attempt's goroutine).
//   - When every attempt fails, Race returns the value of the one that failed
//     last with its error and its stop, so the caller can still use it (an
//     upstream's 503 to relay, say).
//
// When ctx ends before any attempt is decided, Race returns the zero value
// and ctx.Err(). stop is never nil and may be called more than once; the
// caller must call it once done with the value. release may be nil when
// values hold nothing.
func Race[T any](ctx context.Context, h *Hedger, fn func(context.Context) (T, error), release func(T)) (v T, stop context.CancelFunc, err error) {
	if release == nil {
		release = func(T) {}
	}
	h.budget.deposit()
	delay := h.Delay()
	if !h.budget.available() {
		actx, cancel := context.WithCancel(ctx)
		start := time.Now()
		v, err := fn(actx)
		took := time.Since(start)
		if err == nil {
			h.observe(took)
		}
		if took >= delay {
			h.denied(ctx, 2)
		}
		return v, cancel, err
	}
	r := &racing[T]{
		h:        h,
		fn:       fn,
		ctx:      ctx,
		release:  release,
		results:  make(chan raced[T], 1+h.cfg.MaxExtra),
		start:    time.Now(),
		delay:    delay,
		due:      delay,
		canHedge: true,
	}
	r.launch()
	r.timer = time.NewTimer(delay)
	defer r.timer.Stop()

	var last *raced[T] // the latest failure, held until replaced or returned
	for {
		select {
		case o := <-r.results:
			r.running--
			if o.err == nil {
				h.observe(o.took)
				if last != nil {
					release(last.val)
				}
				return r.decide(o)
			}
			if last != nil {
				release(last.val)
			}
			last = &o
			if holdfast.IsPermanent(o.err) || ctx.Err() != nil {
				return r.decide(o)
			}
			if r.canHedge {
				r.timer.Stop()
				r.hedge(time.Since(r.start), o.err)
			}
			if r.running == 0 {
				return r.decide(o)
			}
		case <-r.timer.C:
			if r.canHedge {
				r.hedge(r.due, nil)
			}
		case <-ctx.Done():
			if last != nil {
				release(last.val)
			}
			r.decide(raced[T]{index: -1})
			var zero T
			return zero, func() {}, ctx.Err()
		}
	}
}

// raced is what one attempt of a Race reports.
type raced[T any] struct {
	index int // the attempt's position in racing.cancels
	val   T
	err   error
	took  time.Duration
}

// racing is the state of one Race. Only the loop's goroutine touches it,
// except for what mu guards.
type racing[T any] struct {
	h        *Hedger
	fn       func(context.Context) (T, error)
	ctx      context.Context
	release  func(T)
	results  chan raced[T] // room for every attempt, so none blocks
	timer    *time.Timer
	start    time.Time
	delay    time.Duration
	due      time.Duration
	running  int
	canHedge bool

	cancels []context.CancelCauseFunc // one per attempt started

	// mu guards decided, and the sends on results: an attempt that
	// finishes once the call is decided releases its own value.
	mu      sync.Mutex
	decided bool
}

// launch starts one attempt under a context of its own.
func (r *racing[T]) launch() {
	actx, cancel := context.WithCancelCause(r.ctx)
	i := len(r.cancels)
	r.cancels = append(r.cancels, cancel)
	r.running++
	go func() {
		start := time.Now()
		v, err := r.fn(actx)
		o := raced[T]{index: i, val: v, err: err, took: time.Since(start)}
		r.mu.Lock()
		if !r.decided {
			// Sent under mu, so that decide, which sets decided under mu
			// and then drains, sees every value sent before. The channel
			// has room for every attempt: the send never blocks.
			r.results <- o
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		// The call is over: nobody will read this value, so it is this
		// goroutine's to release.
		r.release(v)
	}()
}

// decide ends the race with o as the answer (index -1 for none): every
// other attempt is cancelled, and values that came in meanwhile are
// released. It returns o's value, the stop for o's context and o's error.
func (r *racing[T]) decide(o raced[T]) (T, context.CancelFunc, error) {
	r.mu.Lock()
	r.decided = true
	r.mu.Unlock()
	cancels := r.cancels
	for i, c := range cancels {
		if i != o.index {
			c(ErrLost)
		}
	}
	// Attempts that reported before decided was set are in the channel;
	// those after release their own values.
drain:
	for {
		select {
		case late := <-r.results:
			r.release(late.val)
		default:
			break drain
		}
	}
	stop := func() {}
	if o.index >= 0 {
		c := cancels[o.index]
		stop = func() { c(context.Canceled) }
	}
	return o.val, stop, o.err
}

// hedge starts the next attempt if the budget pays for it, as
// hedging.hedge does for Execute.
func (r *racing[T]) hedge(at time.Duration, cause error) {
	h := r.h
	if !h.budget.spend() {
		r.canHedge = false
		h.denied(r.ctx, len(r.cancels)+1)
		return
	}
	r.launch()
	started := len(r.cancels)
	holdfast.EmitContext(r.ctx, h.cfg.Listener, holdfast.Event{Source: holdfast.KindHedge, Policy: h.cfg.Name, Kind: holdfast.EventHedge, Attempt: started, Delay: at, Err: cause})
	if h.cfg.Logger != nil {
		h.cfg.Logger.Debug("hedging", "policy", h.cfg.Name, "attempt", started, "after", at, "cause", cause)
	}
	if r.canHedge = started <= h.cfg.MaxExtra; r.canHedge {
		r.timer.Reset(r.delay)
		r.due = at + r.delay
	}
}
