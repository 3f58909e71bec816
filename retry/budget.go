package retry

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults used for zero [BudgetConfig] fields: Linkerd's retry budget.
const (
	DefaultBudgetRatio        = 0.2
	DefaultBudgetMinPerSecond = 10.0
	DefaultBudgetWindow       = 10 * time.Second
)

// budgetBuckets is how many time buckets make up a window.
const budgetBuckets = 10

// BudgetConfig configures a [Budget]. Over any window, retries are allowed
// while
//
//	retries ≤ Ratio × requests + MinPerSecond × Window (in seconds)
//
// so retries add at most Ratio to the load on a struggling service, while a
// quiet service still gets MinPerSecond retries a second. The zero value means
// Linkerd's defaults: ratio 0.2, min_per_second 10, window 10s.
type BudgetConfig struct {
	// Ratio is the share of requests that may be retried, in (0, 1].
	// Zero means 0.2.
	Ratio float64 `yaml:"ratio" json:"ratio"`
	// MinPerSecond is the rate of retries allowed whatever the traffic, so
	// that services with few requests can still retry. Zero means 10.
	MinPerSecond float64 `yaml:"min_per_second" json:"min_per_second"`
	// Window is how far back requests and retries are counted, at least 1ms.
	// Zero means 10s.
	Window time.Duration `yaml:"window" json:"window"`
}

func (c BudgetConfig) withDefaults() BudgetConfig {
	if c.Ratio == 0 {
		c.Ratio = DefaultBudgetRatio
	}
	if c.MinPerSecond == 0 {
		c.MinPerSecond = DefaultBudgetMinPerSecond
	}
	if c.Window == 0 {
		c.Window = DefaultBudgetWindow
	}
	return c
}

// Validate reports every invalid field of c as a [*holdfast.ConfigError]
// keyed as in a retry config, such as "retry.budget.ratio: must be in (0, 1],
// got 1.5", joined with errors.Join. Zero fields are valid: they mean their
// defaults.
func (c BudgetConfig) Validate() error { return errors.Join(c.validate()...) }

func (c BudgetConfig) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf(policy, "budget."+key, format, args...))
	}
	// Written so that NaN fails every check.
	if !(c.Ratio >= 0 && c.Ratio <= 1) {
		add("ratio", "must be in (0, 1], got %g", c.Ratio)
	}
	if !(c.MinPerSecond >= 0 && !math.IsInf(c.MinPerSecond, 1)) {
		add("min_per_second", "must be a finite number of at least 0, got %g", c.MinPerSecond)
	}
	switch {
	case c.Window < 0:
		add("window", "must not be negative, got %s", c.Window)
	case c.Window > 0 && c.Window < time.Millisecond:
		add("window", "must be at least 1ms, got %s", c.Window)
	}
	return errs
}

// Budget limits retries to a share of requests over a sliding window, with
// Envoy's and Linkerd's semantics (see [BudgetConfig]), so that retries cannot
// turn a partial outage into an overload. One Budget may be shared by many
// [Retry] policies and by the proxy: each original request is recorded with
// [Budget.RecordRequest], and each retry asks [Budget.TryRetry] first.
//
// Counts are kept in 10 time buckets per window. So that the bound holds for
// every window exactly, whatever its alignment to the buckets, a granted retry
// keeps counting for up to one bucket longer than the window, and a request
// stops counting up to one bucket sooner. Methods taking a time expect times
// that do not go backwards; an earlier time counts as the latest seen.
//
// The zero Budget uses the default config. A Budget is safe for concurrent
// use and must not be copied after first use.
type Budget struct {
	// mu guards every field below.
	mu       sync.Mutex
	ready    bool          // cfg, width and floor are set
	cfg      BudgetConfig  // with defaults applied
	width    time.Duration // one bucket's span
	floor    float64       // MinPerSecond × Window: retries always allowed
	started  bool          // epoch is set
	epoch    time.Time     // the start of bucket 0: the first time seen
	cur      int64         // the bucket number of buckets[head], counted from epoch
	head     int           // the ring index of the newest bucket
	requests int64         // sum over all buckets
	retries  int64         // sum over all buckets
	buckets  [budgetBuckets + 1]bucket
}

type bucket struct{ requests, retries int64 }

// NewBudget returns a budget with config c, after applying defaults to its zero
// fields, or an error from [BudgetConfig.Validate].
func NewBudget(c BudgetConfig) (*Budget, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := &Budget{}
	b.initLocked(c.withDefaults())
	return b, nil
}

// MustNewBudget is like [NewBudget] but panics on an invalid config. It is
// meant for tests, examples and package-level variables.
func MustNewBudget(c BudgetConfig) *Budget {
	b, err := NewBudget(c)
	if err != nil {
		panic(err)
	}
	return b
}

func (b *Budget) initLocked(c BudgetConfig) {
	b.cfg = c
	b.width = c.Window / budgetBuckets
	b.floor = c.MinPerSecond * c.Window.Seconds()
	b.ready = true
}

// Config returns b's config with defaults applied.
func (b *Budget) Config() BudgetConfig {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ready {
		b.initLocked(BudgetConfig{}.withDefaults())
	}
	return b.cfg
}

// RecordRequest counts one original request (not a retry) at time.Now().
func (b *Budget) RecordRequest() { b.RecordRequestAt(time.Now()) }

// RecordRequestAt counts one original request (not a retry) at now.
func (b *Budget) RecordRequestAt(now time.Time) {
	b.mu.Lock()
	b.advanceLocked(now)
	b.buckets[b.head].requests++
	b.requests++
	b.mu.Unlock()
}

// TryRetry reports whether a retry is allowed at time.Now(), and if so counts
// it. A caller that gets false must not retry.
func (b *Budget) TryRetry() bool { return b.TryRetryAt(time.Now()) }

// TryRetryAt reports whether a retry is allowed at now, and if so counts it.
func (b *Budget) TryRetryAt(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceLocked(now)
	if float64(b.retries+1) > b.allowanceLocked() {
		return false
	}
	b.buckets[b.head].retries++
	b.retries++
	return true
}

// BudgetStats is a snapshot of a [Budget]'s window.
type BudgetStats struct {
	Requests  int64 `json:"requests"`  // requests counted in the window
	Retries   int64 `json:"retries"`   // retries counted in the window
	Remaining int64 `json:"remaining"` // retries that would be allowed now
}

// Stats returns the counts of b's window at time.Now().
func (b *Budget) Stats() BudgetStats { return b.StatsAt(time.Now()) }

// StatsAt returns the counts of b's window at now.
func (b *Budget) StatsAt(now time.Time) BudgetStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceLocked(now)
	s := BudgetStats{Requests: b.countedRequestsLocked(), Retries: b.retries}
	if r := math.Floor(b.allowanceLocked()) - float64(b.retries); r > 0 {
		s.Remaining = int64(min(r, math.MaxInt64/2))
	}
	return s
}

// allowanceLocked is how many retries the window may hold.
func (b *Budget) allowanceLocked() float64 {
	return b.cfg.Ratio*float64(b.countedRequestsLocked()) + b.floor
}

// countedRequestsLocked leaves out the oldest bucket, which may hold requests
// from before the window; retries count all buckets, which cover at least
// the whole window. See the Budget doc comment.
func (b *Budget) countedRequestsLocked() int64 {
	return b.requests - b.buckets[(b.head+1)%len(b.buckets)].requests
}

// advanceLocked moves the newest bucket up to now, emptying the buckets that
// fall out of the ring.
func (b *Budget) advanceLocked(now time.Time) {
	if !b.ready {
		b.initLocked(BudgetConfig{}.withDefaults())
	}
	if !b.started {
		b.epoch, b.started = now, true
		return
	}
	k := int64(now.Sub(b.epoch) / b.width)
	if k <= b.cur {
		return
	}
	steps := min(k-b.cur, int64(len(b.buckets)))
	for range steps {
		b.head = (b.head + 1) % len(b.buckets)
		bk := &b.buckets[b.head]
		b.requests -= bk.requests
		b.retries -= bk.retries
		*bk = bucket{}
	}
	b.cur = k
}
