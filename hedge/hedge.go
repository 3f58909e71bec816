package hedge

import (
	"context"
	"errors"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// ErrLost is the cause (see context.Cause) with which a hedged call cancels
// the context of every attempt still running when the call is decided: by
// another attempt's success or permanent failure. A losing attempt can check
// it to avoid reporting its cancellation as a failure of its own.
var ErrLost = errors.New("hedge: call decided by another attempt")

// Hedger runs extra, concurrent attempts of slow calls and takes the first
// success; see the package documentation for the model. Build one with
// [New]; the zero Hedger is not usable. A Hedger is safe for concurrent use.
type Hedger struct {
	cfg    Config
	budget *budget
	lat    *latencies // nil without Config.Percentile
}

var (
	_ holdfast.Policy = (*Hedger)(nil)
	_ holdfast.Named  = (*Hedger)(nil)
	_ holdfast.Kinded = (*Hedger)(nil)
)

// New returns a Hedger for cfg after applying defaults, or the
// [*holdfast.ConfigError]s that make cfg invalid.
func New(cfg Config) (*Hedger, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Hedger{cfg: cfg, budget: newBudget(cfg.BudgetPercent, cfg.BudgetBurst)}
	if cfg.Percentile > 0 {
		h.lat = newLatencies(cfg.Percentile, cfg.MinSamples, cfg.SampleSize)
	}
	return h, nil
}

// MustNew is like [New] but panics on an invalid config. It is meant for
// examples, tests and package-level variables.
func MustNew(cfg Config) *Hedger {
	h, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return h
}

// Name returns the configured name, "hedge" by default.
func (h *Hedger) Name() string { return h.cfg.Name }

// Kind returns [holdfast.KindHedge].
func (h *Hedger) Kind() holdfast.Kind { return holdfast.KindHedge }

// Delay returns the delay the next call will wait before hedging: the
// configured percentile of recent latencies, bounded by MinDelay and
// MaxDelay, once MinSamples have been seen; Config.Delay otherwise.
func (h *Hedger) Delay() time.Duration {
	if h.lat != nil {
		if d, ok := h.lat.percentile(); ok {
			d = max(d, h.cfg.MinDelay)
			if h.cfg.MaxDelay > 0 {
				d = min(d, h.cfg.MaxDelay)
			}
			return d
		}
	}
	return h.cfg.Delay
}

// Budget returns how many extra attempts the budget could pay for now.
func (h *Hedger) Budget() float64 { return h.budget.balance() }

// Execute runs next, and further concurrent attempts of it as they come due,
// implementing [holdfast.Policy]. Attempts overlap: next must be safe to call
// concurrently, and should be idempotent. Execute returns as soon as one
// attempt succeeds or fails with a [holdfast.Permanent] error, or ctx is done
// (returning ctx.Err()); it then cancels the other attempts' contexts, with
// cause [ErrLost] unless ctx ended, and does NOT wait for them to return. When every attempt
// fails, it returns the error of the one that failed last.
//
// When the budget cannot pay for an extra attempt at the start, Execute just
// calls next on the calling goroutine, like a plain call.
func (h *Hedger) Execute(ctx context.Context, next func(context.Context) error) error {
	_, err := run[struct{}](ctx, h, errFunc(next))
	return err
}

// Get runs fn under h as [Hedger.Execute] runs next, and returns the value of
// the winning attempt.
func Get[T any](ctx context.Context, h *Hedger, fn func(context.Context) (T, error)) (T, error) {
	return run[T](ctx, h, valueFunc[T](fn))
}

// A caller is the function being hedged. Execute and Get adapt their
// functions to it by conversion, which unlike a closure does not allocate.
type caller[T any] interface {
	call(context.Context) (T, error)
}

// errFunc is the function of Execute.
type errFunc func(context.Context) error

func (f errFunc) call(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) }

// valueFunc is the function of Get.
type valueFunc[T any] func(context.Context) (T, error)

func (f valueFunc[T]) call(ctx context.Context) (T, error) { return f(ctx) }

// outcome is what one attempt reports.
type outcome[T any] struct {
	val  T
	err  error
	took time.Duration
}

// attempt runs fn once and reports to out, which must have room: a loser
// sends after nobody listens any more and must not block.
func attempt[T any, C caller[T]](ctx context.Context, fn C, out chan<- outcome[T]) {
	start := time.Now()
	v, err := fn.call(ctx)
	out <- outcome[T]{val: v, err: err, took: time.Since(start)}
}

// run is the hedging loop behind Execute and Get.
//
// Attempts run on goroutines of their own so that the caller can return the
// moment one succeeds. The loop starts attempt k+1 when attempt k has run for
// the delay without an answer, or at once when an attempt fails with an
// error that is not permanent (a failure is the slowest answer of all, as in
// gRPC's hedging), as long as MaxExtra and the budget allow.
func run[T any, C caller[T]](ctx context.Context, h *Hedger, fn C) (T, error) {
	var zero T
	h.budget.deposit()
	delay := h.Delay()
	if !h.budget.available() {
		return direct[T](ctx, h, fn, delay)
	}

	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(ErrLost)
	c := hedging[T, C]{
		h:        h,
		fn:       fn,
		ctx:      actx,
		results:  make(chan outcome[T], 1+h.cfg.MaxExtra),
		start:    time.Now(),
		delay:    delay,
		due:      delay,
		started:  1,
		running:  1,
		canHedge: true,
	}
	go attempt[T](actx, fn, c.results)
	c.timer = time.NewTimer(delay)
	defer c.timer.Stop()

	var last error
	for {
		select {
		case o := <-c.results:
			c.running--
			if o.err == nil {
				h.observe(o.took)
				return o.val, nil
			}
			last = o.err
			if holdfast.IsPermanent(o.err) {
				return zero, o.err
			}
			if ctx.Err() != nil {
				return zero, ctx.Err() // the attempt failed because the call is over
			}
			if c.canHedge {
				c.timer.Stop()
				c.hedge(time.Since(c.start), o.err)
			}
			if c.running == 0 {
				return zero, last
			}
		case <-c.timer.C:
			if c.canHedge {
				c.hedge(c.due, nil)
			}
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// hedging is the state of one hedged call, owned by run's goroutine.
type hedging[T any, C caller[T]] struct {
	h        *Hedger
	fn       C
	ctx      context.Context // the attempts' context
	results  chan outcome[T] // room for every attempt, so none blocks
	timer    *time.Timer     // fires when the next attempt is due
	start    time.Time
	delay    time.Duration
	due      time.Duration // when timer fires, as an offset from start
	started  int           // attempts started
	running  int           // attempts not yet reported
	canHedge bool          // false once MaxExtra is reached or the budget said no
}

// hedge starts the next attempt if the budget pays for it; at is the offset
// from the start of the call and cause the failure that prompted it, if any.
func (c *hedging[T, C]) hedge(at time.Duration, cause error) {
	h := c.h
	if !h.budget.spend() {
		c.canHedge = false
		h.denied(c.ctx, c.started+1)
		return
	}
	c.started++
	c.running++
	go attempt[T](c.ctx, c.fn, c.results)
	holdfast.EmitContext(c.ctx, h.cfg.Listener, holdfast.Event{Source: holdfast.KindHedge, Policy: h.cfg.Name, Kind: holdfast.EventHedge, Attempt: c.started, Delay: at, Err: cause})
	if h.cfg.Logger != nil {
		h.cfg.Logger.Debug("hedging", "policy", h.cfg.Name, "attempt", c.started, "after", at, "cause", cause)
	}
	if c.canHedge = c.started <= h.cfg.MaxExtra; c.canHedge {
		c.timer.Reset(c.delay)
		c.due = at + c.delay
	}
}

// direct runs fn on the calling goroutine, for a call the budget cannot
// hedge. It reports the denial only if the call ran long enough to have
// been hedged.
func direct[T any, C caller[T]](ctx context.Context, h *Hedger, fn C, delay time.Duration) (T, error) {
	start := time.Now()
	v, err := fn.call(ctx)
	took := time.Since(start)
	if err == nil {
		h.observe(took)
	}
	if took >= delay {
		h.denied(ctx, 2)
	}
	return v, err
}

// observe feeds the latency of a successful attempt to the percentile. Only
// winners are measured (losers are cancelled), which biases the percentile
// low while hedges win often; the budget bounds what that can cost.
func (h *Hedger) observe(took time.Duration) {
	if h.lat != nil {
		h.lat.record(took)
	}
}

// denied reports that the budget refused to pay for the given attempt of
// the call whose context is ctx.
func (h *Hedger) denied(ctx context.Context, attempt int) {
	holdfast.EmitContext(ctx, h.cfg.Listener, holdfast.Event{Source: holdfast.KindHedge, Policy: h.cfg.Name, Kind: holdfast.EventRejected, Attempt: attempt, Reason: holdfast.ReasonBudgetExhausted})
	if h.cfg.Logger != nil {
		h.cfg.Logger.Debug("hedge budget exhausted", "policy", h.cfg.Name, "attempt", attempt)
	}
}
