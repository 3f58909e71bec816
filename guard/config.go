package guard

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults for the zero fields of [Config].
const (
	DefaultViolations     = 3
	DefaultWindow         = time.Minute
	DefaultProbeInterval  = 5 * time.Second
	DefaultRecoveryProbes = 3
)

// Limits that keep a config from asking for unbounded memory.
const (
	maxViolations     = 10_000
	maxRecoveryProbes = 10_000
)

// Config configures a [Guard]. The zero value is valid: no invariants (only
// errors matching ErrInvariant count), silence after 3 violations within a
// minute, recovery after 3 passing trial calls 5s apart.
type Config[T any] struct {
	// Name is reported as Event.Policy and in errors. Default "guard".
	Name string `yaml:"name" json:"name"`

	// Check returns a non-nil error when a result breaks an invariant.
	// Default nil: results are not checked, and only errors matching
	// ErrInvariant returned by the call count as violations.
	Check func(result T) error `yaml:"-" json:"-"`

	// Violations is how many violations within Window silence the guard.
	// Default 3; at most 10000.
	Violations int `yaml:"violations" json:"violations"`

	// Window is how far back violations count. A violation exactly Window
	// old has expired. Default 1m.
	Window time.Duration `yaml:"window" json:"window"`

	// Probe checks whether a silenced component is healthy again; a nil
	// error is a pass. The guard runs it on a goroutine of its own every
	// ProbeInterval while silenced (stopped by Close), under ctx with
	// ProbeTimeout. Default nil: real calls are the probes (see the package
	// documentation).
	Probe func(ctx context.Context) error `yaml:"-" json:"-"`

	// ProbeInterval is the pause before each probe while silenced: after
	// silencing, and after each probe (or failed trial call). Default 5s.
	ProbeInterval time.Duration `yaml:"probe_interval" json:"probe_interval"`

	// ProbeTimeout bounds each run of Probe. Default ProbeInterval.
	ProbeTimeout time.Duration `yaml:"probe_timeout" json:"probe_timeout"`

	// RecoveryProbes is how many probes in a row must pass to re-admit the
	// component. Default 3; at most 10000.
	RecoveryProbes int `yaml:"recovery_probes" json:"recovery_probes"`

	// Listener receives the guard's events. Default nil: no events.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// OnReport receives a [Report] when the guard silences its component
	// (quiesce) and when it re-admits it, so that the component can say
	// why it stopped: to a log, a status page, a webhook. It is called on
	// the goroutine whose call caused the change (or the probe
	// goroutine), without the guard's lock held, and must not block: hand
	// the report to a goroutine of yours to send it anywhere slow.
	// Default nil: no reports ([Guard.Report] still has the current one).
	OnReport func(Report) `yaml:"-" json:"-"`

	// Logger logs silencing (warn), recovery (info), violations and probe
	// results (debug). Default nil: silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// withDefaults returns c with its zero fields replaced by their defaults.
func (c Config[T]) withDefaults() Config[T] {
	if c.Name == "" {
		c.Name = "guard"
	}
	if c.Violations == 0 {
		c.Violations = DefaultViolations
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.ProbeTimeout == 0 && c.ProbeInterval > 0 {
		c.ProbeTimeout = c.ProbeInterval
	}
	if c.RecoveryProbes == 0 {
		c.RecoveryProbes = DefaultRecoveryProbes
	}
	return c
}

// Validate reports every invalid field of c (after defaults) as a
// [*holdfast.ConfigError] keyed under "guard", joined with errors.Join.
func (c Config[T]) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Violations < 1 || c.Violations > maxViolations {
		errs = append(errs, holdfast.ConfigErrorf("guard", "violations", "must be in [1, %d], got %d", maxViolations, c.Violations))
	}
	if c.Window < 0 {
		errs = append(errs, holdfast.ConfigErrorf("guard", "window", "must not be negative, got %v", c.Window))
	}
	if c.ProbeInterval < 0 {
		errs = append(errs, holdfast.ConfigErrorf("guard", "probe_interval", "must not be negative, got %v", c.ProbeInterval))
	}
	if c.ProbeTimeout < 0 {
		errs = append(errs, holdfast.ConfigErrorf("guard", "probe_timeout", "must not be negative, got %v", c.ProbeTimeout))
	}
	if c.RecoveryProbes < 1 || c.RecoveryProbes > maxRecoveryProbes {
		errs = append(errs, holdfast.ConfigErrorf("guard", "recovery_probes", "must be in [1, %d], got %d", maxRecoveryProbes, c.RecoveryProbes))
	}
	return errors.Join(errs...)
}
