package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// ErrLimited is the error of a call refused because no token was available
// in time. The error returned is a [*LimitedError], which matches ErrLimited
// with errors.Is and carries the retry-after hint.
var ErrLimited = errors.New("ratelimit: limited")

// ErrExceedsBurst is the error of a request for more tokens than the bucket
// holds. Such a request can never be granted, so it is not worth retrying.
var ErrExceedsBurst = errors.New("ratelimit: request exceeds burst")

// LimitedError is the detail of [ErrLimited]. It implements
// [holdfast.RetryAfterError], so holdfast.RetryAfter(err) and the proxy's
// Retry-After header report Delay.
type LimitedError struct {
	// Delay is how long after the refusal the same request would have been
	// granted at once, had nobody else taken tokens meanwhile.
	Delay time.Duration

	// Err is the cause, if any beyond the rate itself:
	// context.DeadlineExceeded when a token would have come, but only after
	// the caller's deadline.
	Err error
}

// Error returns "ratelimit: limited, retry after <Delay>", with the cause
// when there is one.
func (e *LimitedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("ratelimit: limited, retry after %v: %v", e.Delay, e.Err)
	}
	return "ratelimit: limited, retry after " + e.Delay.String()
}

// Is reports whether target is [ErrLimited].
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// Unwrap returns the cause, such as context.DeadlineExceeded, or nil.
func (e *LimitedError) Unwrap() error { return e.Err }

// RetryAfter returns Delay.
func (e *LimitedError) RetryAfter() time.Duration { return e.Delay }

// exceedsBurst returns the error of a request for n tokens from a bucket of
// burst.
func exceedsBurst(n, burst int64) error {
	return fmt.Errorf("%w: %d tokens asked of a bucket of %d", ErrExceedsBurst, n, burst)
}
