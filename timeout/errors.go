package timeout

import (
	"context"
	"fmt"
	"time"
)

// ErrTimeout means a call did not finish within its [Timeout]. It wraps
// context.DeadlineExceeded, so errors.Is(err, context.DeadlineExceeded) holds
// for it too, and it is the context.Cause of the context the call runs under
// once the timeout fires.
var ErrTimeout = fmt.Errorf("timeout: %w", context.DeadlineExceeded)

// TimeoutError is the error [Timeout.Execute] returns when its own deadline
// passes first. It matches [ErrTimeout] (and so context.DeadlineExceeded) with
// errors.Is; Unwrap returns Err.
type TimeoutError struct {
	// Limit is the configured timeout.
	Limit time.Duration
	// Err is the error the call returned once its context ended, or
	// context.DeadlineExceeded when Execute returned without waiting for it.
	Err error
}

// Error returns "timeout: call did not finish within 2s". The call's own
// error, usually its context's, is left to Unwrap.
func (e *TimeoutError) Error() string {
	return "timeout: call did not finish within " + e.Limit.String()
}

// Is reports whether target is ErrTimeout or context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// Unwrap returns the call's error, or context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout reports true, like context.DeadlineExceeded and net.Error
// timeouts do.
func (e *TimeoutError) Timeout() bool { return true }
