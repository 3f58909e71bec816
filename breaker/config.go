package breaker

import (
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// configKey is the key of a breaker's config in the proxy's YAML file; every
// [holdfast.ConfigError] from [Config.Validate] carries it as its Policy.
const configKey = "circuit_breaker"

// WindowType selects how a breaker's sliding window measures the recent past.
type WindowType string

const (
	// WindowCount keeps the outcomes of the last [Config.WindowSize] calls. It
	// needs no clock, so a breaker with a count window and no slow-call
	// threshold never reads the time on the success path.
	WindowCount WindowType = "count"
	// WindowTime keeps the outcomes of the last [Config.Window], in
	// [Config.WindowBuckets] buckets that expire one at a time.
	WindowTime WindowType = "time"
)

// Limits that keep a breaker's memory and arithmetic bounded.
const (
	maxWindowSize    = 100_000
	maxWindowBuckets = 1000
	// minBucketWidth keeps the 32-bit bucket tags of a time window from
	// aliasing for at least 2^32 ms (49 days) of idleness; see timeWindow.
	minBucketWidth = time.Millisecond
)

// Default values, applied to zero fields of a [Config].
const (
	DefaultFailureRate      = 0.5
	DefaultMinimumRequests  = 20
	DefaultWindowSize       = 100
	DefaultWindow           = 10 * time.Second
	DefaultWindowBuckets    = 10
	DefaultSlowCallRate     = 0.5
	DefaultOpenDuration     = 30 * time.Second
	DefaultOpenBackoff      = 2.0
	DefaultHalfOpenRequests = 3
)

// Config configures a [Breaker]. The zero value is a valid configuration: a
// count window over the last 100 calls that trips at a 50% failure rate once
// it has seen 20 calls, stays open for 30s, and closes again after 3
// successful probes.
//
// The struct is what the proxy decodes from an upstream's circuit_breaker key,
// so the YAML names below are part of the config contract.
type Config struct {
	// Name identifies the breaker in events (holdfast.Event.Policy), logs and
	// errors. Default "breaker".
	Name string `yaml:"name" json:"name"`

	// FailureRate trips the breaker when at least this fraction of the calls
	// in the window failed, counting only once the window holds
	// MinimumRequests calls. It must be in (0, 1]. Default 0.5.
	FailureRate float64 `yaml:"failure_rate" json:"failure_rate"`

	// MinimumRequests is how many calls the window must hold before
	// FailureRate or SlowCallRate can trip the breaker. For a count window it
	// must not exceed WindowSize. Default 20, or WindowSize if that is
	// smaller.
	MinimumRequests int `yaml:"minimum_requests" json:"minimum_requests"`

	// ConsecutiveFailures trips the breaker after this many failures in a
	// row, whatever the window says. Default 0: off.
	ConsecutiveFailures int `yaml:"consecutive_failures" json:"consecutive_failures"`

	// WindowType is "count" or "time". Default "time" when Window is set and
	// "count" otherwise.
	WindowType WindowType `yaml:"window_type" json:"window_type"`

	// Window is the length of a time window. Only for window_type time.
	// Default 10s.
	Window time.Duration `yaml:"window" json:"window"`

	// WindowBuckets is how many buckets a time window is split into; the
	// window slides one bucket (Window/WindowBuckets) at a time, so an
	// outcome counts for at least Window minus one bucket and less than
	// Window, depending on where in its bucket it fell. At most
	// 1000, and each bucket must span at least 1ms. Only for window_type
	// time. Default 10.
	WindowBuckets int `yaml:"window_buckets" json:"window_buckets"`

	// WindowSize is how many of the most recent calls a count window holds,
	// at most 100000. Only for window_type count. Default 100.
	WindowSize int `yaml:"window_size" json:"window_size"`

	// SlowCallDuration makes a call that takes this long or longer a slow
	// call. Slow calls trip the breaker through SlowCallRate, and a slow
	// probe reopens a half-open breaker. Measuring it costs a clock read at
	// the start and end of every call. Default 0: slow calls are not
	// tracked.
	SlowCallDuration time.Duration `yaml:"slow_call_duration" json:"slow_call_duration"`

	// SlowCallRate trips the breaker when at least this fraction of the calls
	// in the window were slow (and MinimumRequests is met). It must be in
	// (0, 1] and needs SlowCallDuration. Default 0.5.
	SlowCallRate float64 `yaml:"slow_call_rate" json:"slow_call_rate"`

	// OpenDuration is how long the breaker stays open after it trips before
	// it lets probes through. Default 30s.
	OpenDuration time.Duration `yaml:"open_duration" json:"open_duration"`

	// MaxOpenDuration caps the open time when it grows because probes keep
	// failing: each reopening from half-open multiplies the previous open
	// time by OpenBackoff, up to this cap, and closing the breaker starts
	// again from OpenDuration. It must be at least OpenDuration. Default
	// OpenDuration, which means the open time never grows.
	MaxOpenDuration time.Duration `yaml:"max_open_duration" json:"max_open_duration"`

	// OpenBackoff is the factor by which the open time grows on each
	// reopening, at least 1. It needs MaxOpenDuration. Default 2.
	OpenBackoff float64 `yaml:"open_backoff" json:"open_backoff"`

	// HalfOpenRequests is how many probe calls a half-open breaker admits,
	// and how many must succeed before it closes. It never admits more at
	// once, however many callers race for them. Default 3.
	HalfOpenRequests int `yaml:"half_open_requests" json:"half_open_requests"`

	// IsFailure reports whether a non-nil error counts as a failure; errors
	// for which it returns false count as successes (for example a 404 that
	// is the caller's fault, not the dependency's). A nil error is always a
	// success, and an error wrapping context.Canceled is never recorded at
	// all, since the caller gave up and the call says nothing about the
	// dependency. Default: every other non-nil error is a failure.
	IsFailure func(err error) bool `yaml:"-" json:"-"`

	// Listener receives state changes (holdfast.EventStateChange, with From,
	// To and a Reason) and rejections (holdfast.EventRejected). It is never
	// called while the breaker holds its lock. Default nil: none.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// Logger records state changes at Info and rejections at Debug. Default
	// nil: silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "breaker"
	}
	if c.FailureRate == 0 {
		c.FailureRate = DefaultFailureRate
	}
	if c.WindowType == "" {
		c.WindowType = WindowCount
		if c.Window != 0 {
			c.WindowType = WindowTime
		}
	}
	switch c.WindowType {
	case WindowCount:
		if c.WindowSize == 0 {
			c.WindowSize = DefaultWindowSize
		}
		if c.MinimumRequests == 0 {
			c.MinimumRequests = DefaultMinimumRequests
			if c.WindowSize > 0 && c.WindowSize < c.MinimumRequests {
				c.MinimumRequests = c.WindowSize
			}
		}
	case WindowTime:
		if c.Window == 0 {
			c.Window = DefaultWindow
		}
		if c.WindowBuckets == 0 {
			c.WindowBuckets = DefaultWindowBuckets
		}
	}
	if c.MinimumRequests == 0 {
		c.MinimumRequests = DefaultMinimumRequests
	}
	if c.SlowCallRate == 0 && c.SlowCallDuration != 0 {
		c.SlowCallRate = DefaultSlowCallRate
	}
	if c.OpenDuration == 0 {
		c.OpenDuration = DefaultOpenDuration
	}
	if c.OpenBackoff == 0 && c.MaxOpenDuration != 0 {
		c.OpenBackoff = DefaultOpenBackoff
	}
	if c.MaxOpenDuration == 0 {
		c.MaxOpenDuration = c.OpenDuration
	}
	if c.OpenBackoff == 0 {
		c.OpenBackoff = 1
	}
	if c.HalfOpenRequests == 0 {
		c.HalfOpenRequests = DefaultHalfOpenRequests
	}
	if c.IsFailure == nil {
		c.IsFailure = anyError
	}
	return c
}

func anyError(error) bool { return true }

// Validate reports every invalid value in c, after applying defaults to its
// zero fields, as [*holdfast.ConfigError] values joined with errors.Join. Each
// error's Key is the field's YAML key, such as "failure_rate". Validate
// returns nil for the zero Config.
func (c Config) Validate() error {
	raw := c
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf(configKey, key, format, args...))
	}

	rate := func(key string, v float64) {
		if math.IsNaN(v) || v <= 0 || v > 1 {
			bad(key, "must be in (0, 1], got %g", v)
		}
	}
	rate("failure_rate", c.FailureRate)
	if c.MinimumRequests < 0 {
		bad("minimum_requests", "must not be negative, got %d", c.MinimumRequests)
	}
	if c.ConsecutiveFailures < 0 {
		bad("consecutive_failures", "must not be negative, got %d", c.ConsecutiveFailures)
	}

	switch c.WindowType {
	case WindowCount:
		if raw.Window != 0 {
			bad("window", "applies only to window_type time, but window_type is count")
		}
		if raw.WindowBuckets != 0 {
			bad("window_buckets", "applies only to window_type time, but window_type is count")
		}
		switch {
		case c.WindowSize < 0 || c.WindowSize > maxWindowSize:
			bad("window_size", "must be in [1, %d], got %d", maxWindowSize, c.WindowSize)
		case c.MinimumRequests > c.WindowSize:
			bad("minimum_requests", "must not exceed window_size (%d), got %d", c.WindowSize, c.MinimumRequests)
		}
	case WindowTime:
		if raw.WindowSize != 0 {
			bad("window_size", "applies only to window_type count, but window_type is time")
		}
		bucketsOK := c.WindowBuckets > 0 && c.WindowBuckets <= maxWindowBuckets
		if !bucketsOK {
			bad("window_buckets", "must be in [1, %d], got %d", maxWindowBuckets, c.WindowBuckets)
		}
		switch {
		case c.Window < 0:
			bad("window", "must not be negative, got %v", c.Window)
		case bucketsOK && c.Window/time.Duration(c.WindowBuckets) < minBucketWidth:
			bad("window", "must be at least %v (window_buckets × %v), got %v",
				minBucketWidth*time.Duration(c.WindowBuckets), minBucketWidth, c.Window)
		}
	default:
		bad("window_type", `must be "count" or "time", got %q`, string(c.WindowType))
	}

	if c.SlowCallDuration < 0 {
		bad("slow_call_duration", "must not be negative, got %v", c.SlowCallDuration)
	}
	if raw.SlowCallRate != 0 {
		rate("slow_call_rate", c.SlowCallRate)
		if c.SlowCallDuration == 0 {
			bad("slow_call_rate", "needs slow_call_duration")
		}
	}

	if c.OpenDuration < 0 {
		bad("open_duration", "must not be negative, got %v", c.OpenDuration)
	}
	switch {
	case c.MaxOpenDuration < 0:
		bad("max_open_duration", "must not be negative, got %v", c.MaxOpenDuration)
	case c.OpenDuration > 0 && c.MaxOpenDuration < c.OpenDuration:
		bad("max_open_duration", "must be at least open_duration (%v), got %v", c.OpenDuration, c.MaxOpenDuration)
	}
	if math.IsNaN(c.OpenBackoff) || math.IsInf(c.OpenBackoff, 0) || c.OpenBackoff < 1 {
		bad("open_backoff", "must be a finite number of at least 1, got %g", c.OpenBackoff)
	} else if raw.OpenBackoff != 0 && raw.MaxOpenDuration == 0 {
		bad("open_backoff", "needs max_open_duration to let the open time grow")
	}

	if c.HalfOpenRequests < 0 {
		bad("half_open_requests", "must not be negative, got %d", c.HalfOpenRequests)
	}
	return errors.Join(errs...)
}
