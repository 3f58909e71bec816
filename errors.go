package holdfast

import (
	"errors"
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
