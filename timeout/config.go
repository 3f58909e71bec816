package timeout

import (
	"errors"
	"log/slog"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults used for zero [Config] fields.
const (
	DefaultTimeout          = 15 * time.Second // Envoy's default route timeout
	DefaultOverrunThreshold = 10 * time.Millisecond
)

const policy = "timeout"

// Config configures a [Timeout]. The zero value limits calls to 15s.
//
// The same struct is what the proxy's configuration decodes a "timeout"
// policy into; a route's scalar "timeout: 2s" sets its Timeout field.
type Config struct {
	// Name names the policy in events and logs. Zero means "timeout".
	Name string `yaml:"name" json:"name"`

	// Timeout is how long a call may run. The caller's own deadline still
	// applies when it is earlier. Zero means 15s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`

	// OverrunThreshold is the shortest overrun reported. A call that returns
	// within it after Execute stopped waiting (at the deadline or the
	// caller's cancellation) is taken to have honoured its context: a
	// cooperative call and Execute wake at the same moment and either may
	// notice first. Zero means 10ms.
	OverrunThreshold time.Duration `yaml:"overrun_threshold" json:"overrun_threshold"`

	// Wait runs the function on the caller's goroutine and returns only when
	// it does, the way failsafe-go's timeout works. It costs no goroutine per
	// call, and no timer either unless the function watches its context
	// (Done, a derived context, context.AfterFunc or context.Cause arm one
	// on first use; Deadline, Value and Err do not), but a function that
	// ignores cancellation then holds the caller past the deadline; the call
	// still fails with ErrTimeout and the overrun is reported. Whether a
	// call that never watched its context overran is judged by holdfast's
	// coarse clock (holdfast.CoarseClock), so one that returns less than
	// about a millisecond after the deadline may count as in time, as it
	// may when a timer fires late. Default false: Execute returns at the
	// deadline and leaves the function running on its own goroutine.
	Wait bool `yaml:"wait" json:"wait"`

	// OnOverrun, when not nil, is called once a call that Execute stopped
	// waiting for finally returns, at least OverrunThreshold later, with how
	// long it ran after Execute stopped waiting and the error it returned. It
	// runs on the call's goroutine and must be safe for concurrent use. Calls
	// that never return are never reported. Nil means no callback; the
	// Listener still gets an EventOverrun.
	OnOverrun func(overrun time.Duration, err error) `yaml:"-" json:"-"`

	// Listener receives an EventTimeout when a call passes the deadline and
	// an EventOverrun (Delay: how long it ran after Execute returned) when an
	// abandoned call finally returns. Nil means no events.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// Logger receives a debug record for each timeout and a warning for each
	// overrun. Nil means silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = policy
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.OverrunThreshold == 0 {
		c.OverrunThreshold = DefaultOverrunThreshold
	}
	return c
}

// Validate reports every invalid field of c as a [*holdfast.ConfigError] keyed
// by its YAML path, such as "timeout.timeout: must not be negative, got -1s",
// joined with errors.Join. Zero fields are valid: they mean their defaults.
func (c Config) Validate() error {
	var errs []error
	if c.Timeout < 0 {
		errs = append(errs, holdfast.ConfigErrorf(policy, "timeout", "must not be negative, got %s", c.Timeout))
	}
	if c.OverrunThreshold < 0 {
		errs = append(errs, holdfast.ConfigErrorf(policy, "overrun_threshold", "must not be negative, got %s", c.OverrunThreshold))
	}
	return errors.Join(errs...)
}
