package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults for the zero values of [Config] and [KeyedConfig].
const (
	DefaultName          = "ratelimit"
	DefaultMaxKeys       = 1 << 20 // 1,048,576 keys
	DefaultSweepInterval = time.Minute

	// MaxRequestsPerSecond is the highest rate a limiter accepts: one token
	// per nanosecond, the resolution of its clock.
	MaxRequestsPerSecond = 1e9
)

// configKey is the key of a rate limit in a configuration file (a route's
// rate_limit block); validation errors are reported under it.
const configKey = "rate_limit"

// Config configures a [Limiter]. RequestsPerSecond has no default and must be
// set; every other zero value stands for the default named on its field. The
// same struct is what the proxy decodes from a route's rate_limit block.
type Config struct {
	// Name is the policy name carried by events. Default "ratelimit".
	Name string `yaml:"name" json:"name"`

	// RequestsPerSecond is the sustained rate at which tokens are added to
	// the bucket; it may be fractional (0.5 is one request every two
	// seconds). It must be in (0, 1e9]. No default: the zero value is an
	// error.
	RequestsPerSecond float64 `yaml:"requests_per_second" json:"requests_per_second"`

	// Burst is the bucket size: the most requests allowed at once after a
	// quiet spell, and the most tokens one request may ask for. Default:
	// one second's worth, RequestsPerSecond rounded up, and at least 1.
	Burst int `yaml:"burst" json:"burst"`

	// MaxWait is how long [Limiter.Execute] may hold a call until a token is
	// available before refusing it with [ErrLimited]; the caller's context
	// deadline can shorten it. Default 0: a call that finds no token is
	// refused at once.
	MaxWait time.Duration `yaml:"max_wait" json:"max_wait"`

	// Listener receives the limiter's events: EventRejected (reason
	// rate_limited, Delay the retry-after hint) when a call is refused and
	// EventQueued (Delay the wait) when a call ran after waiting for a
	// token. Default none.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// Logger receives debug records of refusals. Default nil: silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// withDefaults returns c with its zero values replaced by the defaults.
// Invalid values are left as they are for Validate to report.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Burst == 0 && c.RequestsPerSecond > 0 && c.RequestsPerSecond <= MaxRequestsPerSecond {
		c.Burst = int(math.Ceil(c.RequestsPerSecond))
	}
	return c
}

// Validate reports every invalid value in c as a [*holdfast.ConfigError]
// keyed by its YAML name under "rate_limit", joined with errors.Join. Zero
// values are valid except RequestsPerSecond, which has no default.
func (c Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems returns one [*holdfast.ConfigError] for each invalid value in c.
func (c Config) problems() []error {
	var errs []error
	rate := c.RequestsPerSecond
	rateOK := false
	switch {
	case math.IsNaN(rate) || math.IsInf(rate, 0):
		errs = append(errs, holdfast.ConfigErrorf(configKey, "requests_per_second", "must be a finite number, got %g", rate))
	case rate <= 0:
		errs = append(errs, holdfast.ConfigErrorf(configKey, "requests_per_second", "must be greater than 0, got %g", rate))
	case rate > MaxRequestsPerSecond:
		errs = append(errs, holdfast.ConfigErrorf(configKey, "requests_per_second", "must be at most 1e9, got %g", rate))
	default:
		rateOK = true
	}
	switch {
	case c.Burst < 0:
		errs = append(errs, holdfast.ConfigErrorf(configKey, "burst", "must not be negative, got %d", c.Burst))
	case rateOK:
		// The default burst is one second's worth, which always fits.
		if b := float64(c.Burst); b*math.Ceil(1e9/rate) > float64(maxWindow) {
			errs = append(errs, holdfast.ConfigErrorf(configKey, "burst",
				"%d at %g requests per second takes more than 36 years to refill", c.Burst, rate))
		}
	}
	if c.MaxWait < 0 {
		errs = append(errs, holdfast.ConfigErrorf(configKey, "max_wait", "must not be negative, got %v", c.MaxWait))
	}
	return errs
}

// KeyedConfig configures a [Keyed] limiter: one token bucket per key (a user,
// an IP address), every bucket with the rate and burst of the embedded
// Config. In YAML the Config's keys sit beside MaxKeys and SweepInterval.
type KeyedConfig struct {
	Config `yaml:",inline" json:",inline"`

	// MaxKeys bounds the number of keys held, and so the memory: about 20 to
	// 40 bytes a key. When it is reached, a new key displaces the held key
	// whose bucket is nearest to full among a small sample (an idle one if
	// the sample has one). Keys are spread over shards by hash and each
	// shard holds its share of MaxKeys, so displacement can begin a few
	// percent before MaxKeys keys are held in all. Default 1<<20.
	MaxKeys int `yaml:"max_keys" json:"max_keys"`

	// SweepInterval is how often each shard drops its idle keys (those whose
	// bucket is full again, which can be forgotten without changing any
	// decision) and gives back the memory they took. Sweeps are done by the
	// calls themselves, so they need no goroutine: the first call to a shard
	// after its sweep is due pays for it, in time proportional to the keys
	// the shard holds (at most 4,096 at the default MaxKeys). [Keyed.Sweep]
	// does one at once. Default 1m.
	SweepInterval time.Duration `yaml:"sweep_interval" json:"sweep_interval"`

	// KeyFunc picks the key of a call made through [Keyed.Execute]. Default
	// [KeyFrom], the key stored in the context by [WithKey].
	KeyFunc func(ctx context.Context) string `yaml:"-" json:"-"`
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c KeyedConfig) withDefaults() KeyedConfig {
	c.Config = c.Config.withDefaults()
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.KeyFunc == nil {
		c.KeyFunc = KeyFrom
	}
	return c
}

// Validate reports every invalid value in c, including those of the
// embedded Config, as [*holdfast.ConfigError] values joined with errors.Join.
// Zero values are valid except RequestsPerSecond.
func (c KeyedConfig) Validate() error {
	errs := c.Config.problems()
	if c.MaxKeys < 0 {
		errs = append(errs, holdfast.ConfigErrorf(configKey, "max_keys", "must not be negative, got %d", c.MaxKeys))
	}
	if c.SweepInterval < 0 {
		errs = append(errs, holdfast.ConfigErrorf(configKey, "sweep_interval", "must not be negative, got %v", c.SweepInterval))
	}
	return errors.Join(errs...)
}
