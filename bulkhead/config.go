package bulkhead

import (
	"errors"
	"log/slog"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Defaults for the zero values of [Config].
const (
	DefaultName         = "bulkhead"
	DefaultLimit        = 100
	DefaultQueueTimeout = 100 * time.Millisecond
)

// configKey is the key of a bulkhead in a configuration file; validation
// errors are reported under it.
const configKey = "concurrency"

// Config configures a [Bulkhead]. The zero value is valid: 100 concurrent
// calls and no queue. The same struct is what the proxy decodes from an
// upstream's concurrency block.
type Config struct {
	// Name is the policy name carried by events. Default "bulkhead".
	Name string `yaml:"name" json:"name"`

	// Limit is the most calls that may run at once. Default 100.
	Limit int `yaml:"limit" json:"limit"`

	// Queue is how many calls may wait for a slot when all Limit are taken.
	// Default 0: a call that finds no free slot is refused at once.
	Queue int `yaml:"queue" json:"queue"`

	// QueueTimeout is the longest a call waits in the queue before it is
	// refused with reason queue_timeout. It applies only when Queue > 0; the
	// caller's context can end the wait sooner. Default 100ms.
	QueueTimeout time.Duration `yaml:"queue_timeout" json:"queue_timeout"`

	// Listener receives the bulkhead's events: EventQueued when a call got a
	// slot after waiting, EventRejected when one was refused. Default none.
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
	if c.Limit == 0 {
		c.Limit = DefaultLimit
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	return c
}

// Validate reports every invalid value in c as a [*holdfast.ConfigError]
// keyed by its YAML name under "concurrency", joined with errors.Join. Zero
// values are valid: they stand for the defaults.
func (c Config) Validate() error {
	var errs []error
	if c.Limit < 0 {
		errs = append(errs, holdfast.ConfigErrorf(configKey, "limit", "must be at least 1, got %d", c.Limit))
	}
	if c.Queue < 0 {
		errs = append(errs, holdfast.ConfigErrorf(configKey, "queue", "must not be negative, got %d", c.Queue))
	}
	if c.QueueTimeout < 0 {
		errs = append(errs, holdfast.ConfigErrorf(configKey, "queue_timeout", "must not be negative, got %v", c.QueueTimeout))
	}
	return errors.Join(errs...)
}
