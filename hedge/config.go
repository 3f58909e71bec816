package hedge

import (
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults for the zero fields of [Config].
const (
	DefaultDelay         = 50 * time.Millisecond
	DefaultMaxExtra      = 1
	DefaultMinSamples    = 20
	DefaultSampleSize    = 200
	DefaultBudgetPercent = 10
	DefaultBudgetBurst   = 10
)

// Limits on [Config] values.
const (
	maxMaxExtra    = 10        // more concurrent copies of one call is a stampede, not a hedge
	maxSampleSize  = 10_000    // the sample is kept sorted; bound its cost
	maxBudgetBurst = 1_000_000 // keeps the token arithmetic far from overflow
)

// Config configures a [Hedger]. The zero value is valid: one extra attempt
// after 50ms, for at most 10% of calls (plus a burst of 10).
//
// In a config file it is the "hedge" block:
//
//	hedge: {delay: 50ms, max_extra: 1, percentile: 0.95, budget_percent: 10}
type Config struct {
	// Name is reported as Event.Policy. Default "hedge".
	Name string `yaml:"name" json:"name"`

	// Delay is how long an attempt may run before the next one starts. With
	// Percentile set it is the delay used until MinSamples latencies have
	// been seen. Default 50ms.
	Delay time.Duration `yaml:"delay" json:"delay"`

	// MaxExtra is the most attempts started in addition to the first.
	// Default 1; at most 10.
	MaxExtra int `yaml:"max_extra" json:"max_extra"`

	// Percentile, when set, makes the delay that percentile of the latencies
	// of recent successful attempts, so that only calls slower than, say, 95%
	// of calls are hedged. In (0, 1]; default 0: always use Delay.
	Percentile float64 `yaml:"percentile" json:"percentile"`

	// MinSamples is how many latencies must have been seen before the
	// percentile replaces Delay. Default 20, or SampleSize if smaller.
	MinSamples int `yaml:"min_samples" json:"min_samples"`

	// SampleSize is how many of the most recent latencies the percentile is
	// taken over. Default 200; at most 10000.
	SampleSize int `yaml:"sample_size" json:"sample_size"`

	// MinDelay and MaxDelay bound the percentile delay (not Delay itself), so
	// that a run of very fast or very slow calls cannot make hedging
	// reckless or useless. Default 0: no bound.
	MinDelay time.Duration `yaml:"min_delay" json:"min_delay"`
	MaxDelay time.Duration `yaml:"max_delay" json:"max_delay"`

	// BudgetPercent caps extra attempts as a percentage of calls: every call
	// earns BudgetPercent/100 of an extra attempt and every extra attempt
	// spends one, so over time at most BudgetPercent extra attempts are
	// started per 100 calls. At 100*MaxExtra the budget never runs out.
	// In (0, 100*MaxExtra]; default 10.
	BudgetPercent float64 `yaml:"budget_percent" json:"budget_percent"`

	// BudgetBurst is how many unspent extra attempts the budget can save up,
	// and how many it starts with. Default 10; at most 1000000.
	BudgetBurst int `yaml:"budget_burst" json:"budget_burst"`

	// Listener receives an EventHedge for every extra attempt and an
	// EventRejected (reason "budget_exhausted") when the budget denies one.
	// Default nil: no events.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// Logger logs extra attempts and budget denials (debug). Default nil:
	// silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// withDefaults returns c with its zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "hedge"
	}
	if c.Delay == 0 {
		c.Delay = DefaultDelay
	}
	if c.MaxExtra == 0 {
		c.MaxExtra = DefaultMaxExtra
	}
	if c.SampleSize == 0 {
		c.SampleSize = DefaultSampleSize
	}
	if c.MinSamples == 0 {
		c.MinSamples = max(min(DefaultMinSamples, c.SampleSize), 1)
	}
	if c.BudgetPercent == 0 {
		c.BudgetPercent = DefaultBudgetPercent
	}
	if c.BudgetBurst == 0 {
		c.BudgetBurst = DefaultBudgetBurst
	}
	return c
}

// Validate reports every invalid field of c (after defaults) as a
// [*holdfast.ConfigError] keyed under "hedge", joined with errors.Join.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf("hedge", key, format, args...))
	}
	if c.Delay < 0 {
		bad("delay", "must not be negative, got %v", c.Delay)
	}
	maxExtraOK := c.MaxExtra >= 1 && c.MaxExtra <= maxMaxExtra
	if !maxExtraOK {
		bad("max_extra", "must be in [1, %d], got %d", maxMaxExtra, c.MaxExtra)
	}
	if math.IsNaN(c.Percentile) || c.Percentile < 0 || c.Percentile > 1 {
		bad("percentile", "must be in (0, 1], got %g", c.Percentile)
	}
	if c.SampleSize < 1 || c.SampleSize > maxSampleSize {
		bad("sample_size", "must be in [1, %d], got %d", maxSampleSize, c.SampleSize)
	}
	if c.MinSamples < 1 || c.MinSamples > c.SampleSize && c.SampleSize >= 1 {
		bad("min_samples", "must be in [1, sample_size=%d], got %d", c.SampleSize, c.MinSamples)
	}
	if c.MinDelay < 0 {
		bad("min_delay", "must not be negative, got %v", c.MinDelay)
	}
	if c.MaxDelay < 0 {
		bad("max_delay", "must not be negative, got %v", c.MaxDelay)
	}
	if c.MaxDelay > 0 && c.MinDelay > c.MaxDelay {
		bad("min_delay", "must not exceed max_delay=%v, got %v", c.MaxDelay, c.MinDelay)
	}
	if maxExtraOK {
		if hi := 100 * float64(c.MaxExtra); math.IsNaN(c.BudgetPercent) || c.BudgetPercent <= 0 || c.BudgetPercent > hi {
			bad("budget_percent", "must be in (0, %g] (100 × max_extra), got %g", hi, c.BudgetPercent)
		}
	} else if math.IsNaN(c.BudgetPercent) || c.BudgetPercent <= 0 {
		bad("budget_percent", "must be positive, got %g", c.BudgetPercent)
	}
	if c.BudgetBurst < 1 || c.BudgetBurst > maxBudgetBurst {
		bad("budget_burst", "must be in [1, %d], got %d", maxBudgetBurst, c.BudgetBurst)
	}
	return errors.Join(errs...)
}
