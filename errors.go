package holdfast

import (
	"errors"
	"fmt"
	"time"
)

// permanentError marks an error that no policy should retry or hedge.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that retry and hedge policies never try again after it.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked by
// [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryAfterError is an error that carries a hint of how long to wait before
// trying again, such as an HTTP Retry-After header or a breaker's remaining open
// time.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// RetryAfter returns the wait hint carried by err or any error it wraps, and
// whether there was one.
func RetryAfter(err error) (time.Duration, bool) {
	var ra RetryAfterError
	if errors.As(err, &ra) {
		return ra.RetryAfter(), true
	}
	return 0, false
}

// ConfigError is an invalid configuration value. Key is the dotted path of the
// value inside the policy's Config as it is spelled in YAML, such as
// "budget.ratio"; Policy is the config's own key, such as "retry". The config
// loader prefixes Key with where the policy sits in the file and adds the line.
type ConfigError struct {
	Policy  string // "retry", "breaker", ...
	Key     string // "budget.ratio"
	Message string // "must be in (0, 1], got 1.5"
}

// Error returns "policy.key: message".
func (e *ConfigError) Error() string {
	if e.Key == "" {
		return e.Policy + ": " + e.Message
	}
	return e.Policy + "." + e.Key + ": " + e.Message
}

// ConfigErrorf returns a [*ConfigError] whose message is formatted with
// fmt.Sprintf.
func ConfigErrorf(policy, key, format string, args ...any) *ConfigError {
	return &ConfigError{Policy: policy, Key: key, Message: fmt.Sprintf(format, args...)}
}
