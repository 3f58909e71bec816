package fallback

import (
	"context"
	"errors"
	"log/slog"
	"reflect"

	"github.com/holdfast-dev/holdfast"
)

// Config configures a [Fallback]. The zero value is valid: it replaces every
// failure except [context.Canceled] with the zero value of T.
//
// Value is the only field a config file sets (as "value"); the functions and
// hooks exist only in Go.
type Config[T any] struct {
	// Name is reported as Event.Policy and in errors. Default "fallback".
	Name string `yaml:"name" json:"name"`

	// Value is the result given in place of a handled failure. It is used
	// when Func is nil; the zero Value is a valid fallback (an empty list, a
	// zero count). Setting both Value and Func is an error.
	Value T `yaml:"value" json:"value"`

	// Func computes the replacement from the call's context and error. A
	// non-nil error from Func is returned to the caller as a [*FailedError].
	// Default nil: Value is used.
	Func func(ctx context.Context, err error) (T, error) `yaml:"-" json:"-"`

	// On chooses the failures the fallback handles. Default: every non-nil
	// error except one matching context.Canceled, because a caller that
	// cancelled wants no answer at all. See [OnErrors].
	On func(err error) bool `yaml:"-" json:"-"`

	// Listener receives an EventFallback for every replacement. Default nil:
	// no events.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// Logger logs replacements (debug) and failures of Func (warn). Default
	// nil: silent.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// DefaultOn is the default [Config.On]: it handles every non-nil error except
// one matching context.Canceled.
func DefaultOn(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled)
}

// OnErrors returns a [Config.On] that handles errors matching any of targets
// with errors.Is.
func OnErrors(targets ...error) func(error) bool {
	targets = append([]error(nil), targets...)
	return func(err error) bool {
		for _, t := range targets {
			if errors.Is(err, t) {
				return true
			}
		}
		return false
	}
}

// withDefaults returns c with its zero fields replaced by their defaults.
func (c Config[T]) withDefaults() Config[T] {
	if c.Name == "" {
		c.Name = "fallback"
	}
	if c.On == nil {
		c.On = DefaultOn
	}
	return c
}

// Validate reports whether c is usable, as a [*holdfast.ConfigError] keyed
// under "fallback". The only invalid config sets both Value and Func, which
// would leave it unclear which one is the fallback.
func (c Config[T]) Validate() error {
	// reflect only runs here, at construction, never on the call path.
	if c.Func != nil && !reflect.ValueOf(&c.Value).Elem().IsZero() {
		return holdfast.ConfigErrorf("fallback", "value", "set value or func, not both")
	}
	return nil
}
