package fallback

import "errors"

// ErrFailed is the sentinel matched by a [*FailedError]: the call failed and
// so did the fallback function meant to replace its result.
var ErrFailed = errors.New("fallback: fallback failed")

// FailedError reports that [Config.Func] returned an error while replacing a
// failure. It matches [ErrFailed] with errors.Is, and unwraps to both the
// fallback's error and the original one, so errors.Is and errors.As find
// either.
type FailedError struct {
	Policy string // the fallback's configured name
	Cause  error  // the original failure that the fallback tried to replace
	Err    error  // the error returned by Config.Func
}

// Error returns "fallback: <policy>: <err> (replacing: <cause>)".
func (e *FailedError) Error() string {
	return "fallback: " + e.Policy + ": " + e.Err.Error() + " (replacing: " + e.Cause.Error() + ")"
}

// Is reports whether target is [ErrFailed].
func (e *FailedError) Is(target error) bool { return target == ErrFailed }

// Unwrap returns the fallback's error and then the original failure.
func (e *FailedError) Unwrap() []error { return []error{e.Err, e.Cause} }
