package adaptive

import (
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Algorithm names how a [Limiter] turns its latency measurements into a new
// limit.
type Algorithm string

// The algorithms a [Limiter] can use.
const (
	// Gradient scales the limit by the ratio of the tolerated latency
	// (no-load latency times 1 + Tolerance) to the measured one, clamped to
	// [0.5, 2], and adds a headroom of the square root of the limit, as
	// Envoy's adaptive concurrency filter does. It settles quickly and
	// moves in proportion to how far latency is off.
	Gradient Algorithm = "gradient"
	// Vegas estimates how many calls are queued downstream from how much the
	// measured latency exceeds the no-load one (limit × (1 − noload/rtt)),
	// as TCP Vegas and Netflix's concurrency-limits do, and steers that
	// queue into a small band that grows with the logarithm of the limit.
	Vegas Algorithm = "vegas"
	// AIMD adds one to the limit each window in which latency stayed under
	// the tolerated latency and no call was dropped, and multiplies it by
	// Backoff otherwise. It is the simplest and slowest to grow.
	AIMD Algorithm = "aimd"
)

// Defaults for the zero values of [Config].
const (
	DefaultName          = "adaptive"
	DefaultAlgorithm     = Gradient
	DefaultMin           = 5
	DefaultMax           = 1000
	DefaultInitial       = 20
	DefaultWindow        = 100 * time.Millisecond
	DefaultMinSamples    = 10
	DefaultTolerance     = 0.25
	DefaultBackoff       = 0.9
	DefaultProbeInterval = time.Minute
	DefaultProbeSamples  = 50
)

// maxProbeSamples bounds ProbeSamples, whose buffer is allocated up front.
const maxProbeSamples = 10000

// configKey is where an adaptive limit sits in a configuration file;
// validation errors are reported under it.
const configKey = "concurrency.adaptive"

// Config configures a [Limiter]. The zero value is valid: a gradient limit
// between 5 and 1000 that starts at 20. The same struct is what the proxy
// decodes from an upstream's concurrency.adaptive block.
type Config struct {
	// Name is the policy name carried by events. Default "adaptive".
	Name string `yaml:"name" json:"name"`

	// Algorithm is gradient, vegas or aimd (see [Gradient], [Vegas] and
	// [AIMD]). Default gradient.
	Algorithm Algorithm `yaml:"algorithm" json:"algorithm"`

	// Min is the lowest the limit goes, and the limit held while the
	// no-load latency is measured. It should be below what the dependency
	// can serve without queueing. Default 5.
	Min int `yaml:"min" json:"min"`

	// Max is the highest the limit goes. Default 1000.
	Max int `yaml:"max" json:"max"`

	// Initial is the limit once the first no-load measurement is done; it
	// must lie in [Min, Max]. Default 20, or Min or Max if 20 is outside.
	Initial int `yaml:"initial" json:"initial"`

	// Window is how often the limit is recomputed from the latencies of
	// the calls that finished since the last time. A window closes only
	// once it holds MinSamples results, so under light traffic it stretches.
	// Default 100ms.
	Window time.Duration `yaml:"window" json:"window"`

	// MinSamples is how many finished calls a window needs before it may
	// move the limit. Default 10.
	MinSamples int `yaml:"min_samples" json:"min_samples"`

	// Tolerance is how far above the no-load latency the average latency
	// may rise, as a fraction, before gradient lowers the limit or aimd
	// backs off: 0.25 tolerates 25% more. Vegas does not use it. Default 0.25.
	Tolerance float64 `yaml:"tolerance" json:"tolerance"`

	// Backoff is what aimd multiplies the limit by on congestion, in (0, 1).
	// Default 0.9.
	Backoff float64 `yaml:"backoff" json:"backoff"`

	// ProbeInterval is how often the no-load latency is measured again, so
	// that a dependency that became slower or faster for good is re-learned.
	// Each measurement holds the limit at Min until ProbeSamples calls
	// admitted during it have finished; each interval is stretched by up to
	// 15% at random so that many limiters do not probe together. A
	// measurement also starts at once when latency stays over tolerance
	// though the limit was halved, or at Min: such latency is not of the
	// limiter's making. Default 1m.
	ProbeInterval time.Duration `yaml:"probe_interval" json:"probe_interval"`

	// ProbeSamples is how many calls a no-load measurement takes; their
	// median latency becomes the no-load latency. At most 10000. Default 50.
	ProbeSamples int `yaml:"probe_samples" json:"probe_samples"`

	// IsDrop reports whether a call's error means the dependency is
	// overloaded, which counts against the limit like high latency does.
	// Other errors release the call without a latency sample, so fast
	// failures do not pass for good latency. Default: errors that match
	// context.DeadlineExceeded or [ErrLimited], or have a Timeout() method
	// returning true. [Limiter.Execute] and [Token.Finish] use it.
	IsDrop func(err error) bool `yaml:"-" json:"-"`

	// Listener receives the limiter's events: EventLimitChanged when the
	// limit moves, EventStateChange between "limiting" and "probing", and
	// EventRejected for every refused call. Default none.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// Logger receives debug records of limit changes and refusals. Default
	// nil: silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// withDefaults returns c with its zero values replaced by the defaults.
// Invalid values are left as they are for Validate to report.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	if c.Min == 0 {
		c.Min = DefaultMin
	}
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Initial == 0 {
		c.Initial = min(max(DefaultInitial, c.Min), c.Max)
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MinSamples == 0 {
		c.MinSamples = DefaultMinSamples
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.ProbeSamples == 0 {
		c.ProbeSamples = DefaultProbeSamples
	}
	if c.IsDrop == nil {
		c.IsDrop = IsDrop
	}
	return c
}

// Validate reports every invalid value in c as a [*holdfast.ConfigError]
// keyed by its YAML name under "concurrency.adaptive", joined with
// errors.Join. Zero values are valid: they stand for the defaults, and
// relations such as min <= max are checked on the values with defaults
// applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf(configKey, key, format, args...))
	}
	switch c.Algorithm {
	case Gradient, Vegas, AIMD:
	default:
		bad("algorithm", "must be gradient, vegas or aimd, got %q", string(c.Algorithm))
	}
	boundsOK := true
	if c.Min < 1 {
		bad("min", "must be at least 1, got %d", c.Min)
		boundsOK = false
	}
	if c.Max < 1 {
		bad("max", "must be at least 1, got %d", c.Max)
		boundsOK = false
	}
	if boundsOK && c.Min > c.Max {
		bad("max", "must be at least min (%d), got %d", c.Min, c.Max)
		boundsOK = false
	}
	// Initial is only judged against sound bounds, so that one bad bound is
	// reported once.
	if boundsOK && (c.Initial < c.Min || c.Initial > c.Max) {
		bad("initial", "must be in [min, max] = [%d, %d], got %d", c.Min, c.Max, c.Initial)
	}
	if c.Window < 0 {
		bad("window", "must not be negative, got %v", c.Window)
	}
	if c.MinSamples < 1 {
		bad("min_samples", "must be at least 1, got %d", c.MinSamples)
	}
	if math.IsNaN(c.Tolerance) || math.IsInf(c.Tolerance, 0) || c.Tolerance < 0 {
		bad("tolerance", "must be a positive fraction, got %g", c.Tolerance)
	}
	if !(c.Backoff > 0 && c.Backoff < 1) {
		bad("backoff", "must be in (0, 1), got %g", c.Backoff)
	}
	if c.ProbeInterval < 0 {
		bad("probe_interval", "must not be negative, got %v", c.ProbeInterval)
	}
	if c.ProbeSamples < 1 || c.ProbeSamples > maxProbeSamples {
		bad("probe_samples", "must be in [1, %d], got %d", maxProbeSamples, c.ProbeSamples)
	}
	return errors.Join(errs...)
}
