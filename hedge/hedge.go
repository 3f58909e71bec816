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
// (returning ctx.Err()); it then cancels the other attempts' contexts with
// cause [ErrLost] and does NOT wait for them to return. When every attempt
// fails, it returns the error of the one that failed last.
//
// When the budget cannot pay for an extra attempt at the start, Execute just
// calls next on the calling goroutine, like a plain call.
func (h *Hedger) Execute(ctx context.Context, next func(context.Context) error) error {
	_, err := run(ctx, h, func(ctx context.Context) (struct{}, error) { return struct{}{}, next(ctx) })
	return err
}

// Get runs fn under h as [Hedger.Execute] runs next, and returns the value of
// the winning attempt.
func Get[T any](ctx context.Context, h *Hedger, fn func(context.Context) (T, error)) (T, error) {
	return run(ctx, h, fn)
}

// outcome is what one attempt reports.
type outcome[T any] struct {
	val  T
	err  error
	took time.Duration
}

// attempt runs fn once and reports to out, which must have room: a loser
// sends after nobody listens any more and must not block.
func attempt[T any](ctx context.Context, fn func(context.Context) (T, error), out chan<- outcome[T]) {
	start := time.Now()
	v, err := fn(ctx)
	out <- outcome[T]{val: v, err: err, took: time.Since(start)}
}

// run is the hedging loop behind Execute and Get.
//
// Attempts run on goroutines of their own so that the caller can return the
// moment one succeeds. The loop starts attempt k+1 when attempt k has run for
// the delay without an answer, or at once when an attempt fails with an
// error that is not permanent (a failure is the slowest answer of all, as in
// gRPC's hedging), as long as MaxExtra and the budget allow.
func run[T any](ctx context.Context, h *Hedger, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	h.budget.deposit()
	delay := h.Delay()
	if !h.budget.available() {
		return direct(ctx, h, fn, delay)
	}

	start := time.Now()
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(ErrLost)
	results := make(chan outcome[T], 1+h.cfg.MaxExtra)
	go attempt(actx, fn, results)
	started, running := 1, 1
	canHedge := true // false once MaxExtra is reached or the budget said no

	timer := time.NewTimer(delay)
	defer timer.Stop()
	due := delay // when the pending timer fires, as an offset from start

	// hedge starts the next attempt if allowed; cause is the failure that
	// prompted it, if any, and at the offset from start.
	hedge := func(at time.Duration, cause error) {
		if !h.budget.spend() {
			canHedge = false
			h.denied(started + 1)
			return
		}
		started++
		running++
		go attempt(actx, fn, results)
		holdfast.Emit(h.cfg.Listener, holdfast.Event{Policy: h.cfg.Name, Kind: holdfast.EventHedge, Attempt: started, Delay: at, Err: cause})
		if h.cfg.Logger != nil {
			h.cfg.Logger.Debug("hedging", "policy", h.cfg.Name, "attempt", started, "after", at, "cause", cause)
		}
		if canHedge = started <= h.cfg.MaxExtra; canHedge {
			timer.Reset(delay)
			due = at + delay
		}
	}

	var last error
	for {
		select {
		case o := <-results:
			running--
			if o.err == nil {
				h.observe(o.took)
				return o.val, nil
			}
			last = o.err
			if holdfast.IsPermanent(o.err) {
				return zero, o.err
			}
			if canHedge {
				timer.Stop()
				hedge(time.Since(start), o.err)
			}
			if running == 0 {
				return zero, last
			}
		case <-timer.C:
			if canHedge {
				hedge(due, nil)
			}
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// direct runs fn on the calling goroutine, for a call the budget cannot
// hedge. It reports the denial only if the call ran long enough to have
// been hedged.
func direct[T any](ctx context.Context, h *Hedger, fn func(context.Context) (T, error), delay time.Duration) (T, error) {
	start := time.Now()
	v, err := fn(ctx)
	took := time.Since(start)
	if err == nil {
		h.observe(took)
	}
	if took >= delay {
		h.denied(2)
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

// denied reports that the budget refused to pay for the given attempt.
func (h *Hedger) denied(attempt int) {
	holdfast.Emit(h.cfg.Listener, holdfast.Event{Policy: h.cfg.Name, Kind: holdfast.EventRejected, Attempt: attempt, Reason: holdfast.ReasonBudgetExhausted})
	if h.cfg.Logger != nil {
		h.cfg.Logger.Debug("hedge budget exhausted", "policy", h.cfg.Name, "attempt", attempt)
	}
}
