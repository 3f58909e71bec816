package retry

import (
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults used for zero [Config], [BackoffConfig] and [BudgetConfig] fields.
const (
	DefaultAttempts      = 3
	DefaultBackoffBase   = 25 * time.Millisecond // as Envoy's base_interval
	DefaultBackoffMax    = time.Second
	DefaultMultiplier    = 2.0
	DefaultMaxRetryAfter = 30 * time.Second
)

// Jitter names how a backoff wait is randomised.
type Jitter string

// The jitter strategies of [BackoffConfig].
const (
	// JitterFull waits a uniformly random time in [0, cap), where cap grows
	// exponentially with each retry: "full jitter" from the AWS Architecture
	// Blog's "Exponential Backoff and Jitter". It spreads retries of many
	// clients the most, and it is the default.
	JitterFull Jitter = "full"
	// JitterDecorrelated waits a uniformly random time in [base, 3 × previous
	// wait], capped by max: "decorrelated jitter" from the same article. Each
	// wait depends on the one before it, not on the retry number.
	JitterDecorrelated Jitter = "decorrelated"
	// JitterNone waits exactly the exponential cap. Use it only where one
	// client retries alone; synchronised retries from many clients arrive
	// together.
	JitterNone Jitter = "none"
)

// Config configures a [Retry]. The zero value retries any error twice (three
// attempts) with full-jitter exponential backoff from 25ms to 1s, honours
// Retry-After hints up to 30s and uses no retry budget.
//
// The same struct is the "retry" block of the proxy's configuration file.
type Config struct {
	// Name names the policy in events and logs. Zero means "retry".
	Name string `yaml:"name" json:"name"`

	// Attempts is the most attempts made for one call, the first included;
	// 1 disables retrying. Zero means 3.
	Attempts int `yaml:"attempts" json:"attempts"`

	// PerTryTimeout, when positive, gives each attempt its own context
	// deadline (never later than the caller's). An attempt that runs out of
	// time fails with context.DeadlineExceeded, which is retried while the
	// caller's context is live. Retry waits for the attempt to return; to
	// abandon attempts that ignore their context, put a timeout.Timeout
	// inside the retry instead. Zero means no per-attempt limit.
	PerTryTimeout time.Duration `yaml:"per_try_timeout" json:"per_try_timeout"`

	// Backoff sets the wait between attempts. Zero fields take their defaults.
	Backoff BackoffConfig `yaml:"backoff" json:"backoff"`

	// MaxRetryAfter is the longest wait a retryable error's hint (see
	// holdfast.RetryAfter, such as an HTTP Retry-After header or an open
	// breaker's remaining time) may ask for. A hint up to MaxRetryAfter is
	// waited for exactly, in place of the backoff; a longer hint ends retrying
	// at once, returning the error, because retrying earlier than the server
	// asked is likely to fail again and adds load where it hurts most. Zero
	// means 30s.
	MaxRetryAfter time.Duration `yaml:"max_retry_after" json:"max_retry_after"`

	// BudgetConfig, when not nil, gives this policy a retry [Budget] of its
	// own, built with [NewBudget]; its zero fields take their defaults. Set at
	// most one of BudgetConfig and Budget. Nil means no budget of its own.
	BudgetConfig *BudgetConfig `yaml:"budget" json:"budget"`

	// Budget, when not nil, is a retry budget shared with other policies or
	// with the proxy. Every call records a request in it and every retry must
	// be granted by it. Nil means no shared budget.
	Budget *Budget `yaml:"-" json:"-"`

	// RetryIf reports whether a failed attempt's error may be retried. It is
	// never asked about context.Canceled or errors marked by
	// holdfast.Permanent, which are never retried, nor about any error once
	// the caller's context is done. To retry on a result (an HTTP 503, an
	// empty page), have the function return an error alongside it; Get hands
	// back the last result with the final error. It must be safe for
	// concurrent use. Nil retries every other error.
	RetryIf func(err error) bool `yaml:"-" json:"-"`

	// Rand returns a random number in [0, 1) for jitter; tests set it to make
	// waits exact. It must be safe for concurrent use. Nil means
	// math/rand/v2.Float64.
	Rand func() float64 `yaml:"-" json:"-"`

	// Listener receives an EventAttempt before every attempt, an EventRetry
	// before every wait, and an EventRejected (reason "budget_exhausted")
	// when the budget refuses a retry. Nil means no events.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// Logger receives debug records of retries and give-ups. Nil means silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// BackoffConfig sets the exponential backoff between attempts. The wait before
// retry n (1 for the first retry) is drawn below min(Max, Base × Multiplier^(n-1))
// for [JitterFull] and [JitterNone]; see [Jitter] for the decorrelated form.
type BackoffConfig struct {
	// Base is the first retry's cap (and the shortest decorrelated wait).
	// Zero means 25ms.
	Base time.Duration `yaml:"base" json:"base"`
	// Max caps every wait computed from the backoff. Zero means 1s, or Base
	// when Base is larger.
	Max time.Duration `yaml:"max" json:"max"`
	// Multiplier is the growth of the cap per retry, at least 1. It does not
	// apply to decorrelated jitter. Zero means 2.
	Multiplier float64 `yaml:"multiplier" json:"multiplier"`
	// Jitter is "full", "decorrelated" or "none". Zero means "full".
	Jitter Jitter `yaml:"jitter" json:"jitter"`
}

const policy = "retry"

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = policy
	}
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	c.Backoff = c.Backoff.withDefaults()
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.BudgetConfig != nil {
		bc := c.BudgetConfig.withDefaults()
		c.BudgetConfig = &bc
	}
	return c
}

func (c BackoffConfig) withDefaults() BackoffConfig {
	if c.Base == 0 {
		c.Base = DefaultBackoffBase
	}
	if c.Max == 0 {
		c.Max = max(DefaultBackoffMax, c.Base)
	}
	if c.Multiplier == 0 {
		c.Multiplier = DefaultMultiplier
	}
	if c.Jitter == "" {
		c.Jitter = JitterFull
	}
	return c
}

// Validate reports every invalid field of c as a [*holdfast.ConfigError]
// keyed by its YAML path, such as "retry.backoff.max: must not be less than
// backoff.base (50ms), got 10ms", joined with errors.Join. Zero fields are
// valid: they mean their defaults.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf(policy, key, format, args...))
	}
	if c.Attempts < 0 {
		add("attempts", "must not be negative, got %d", c.Attempts)
	}
	if c.PerTryTimeout < 0 {
		add("per_try_timeout", "must not be negative, got %s", c.PerTryTimeout)
	}
	if c.MaxRetryAfter < 0 {
		add("max_retry_after", "must not be negative, got %s", c.MaxRetryAfter)
	}
	errs = append(errs, c.Backoff.validate()...)
	if c.BudgetConfig != nil {
		if c.Budget != nil {
			add("budget", "set either a shared Budget or a budget config, not both")
		}
		errs = append(errs, c.BudgetConfig.validate()...)
	}
	return errors.Join(errs...)
}

func (c BackoffConfig) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf(policy, "backoff."+key, format, args...))
	}
	if c.Base < 0 {
		add("base", "must not be negative, got %s", c.Base)
	}
	if c.Max < 0 {
		add("max", "must not be negative, got %s", c.Max)
	}
	if d := c.withDefaults(); c.Base >= 0 && c.Max > 0 && d.Max < d.Base {
		add("max", "must not be less than backoff.base (%s), got %s", d.Base, d.Max)
	}
	if m := c.Multiplier; m != 0 && !(m >= 1 && !math.IsInf(m, 1)) {
		add("multiplier", "must be a finite number of at least 1, got %g", m)
	}
	switch c.Jitter {
	case "", JitterFull, JitterDecorrelated, JitterNone:
	default:
		add("jitter", "must be one of full, decorrelated or none, got %q", string(c.Jitter))
	}
	return errs
}
