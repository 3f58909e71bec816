package retry

import (
	"errors"
	"strconv"
)

// The reasons a [Retry] stops trying before a call succeeds, other than the
// call's own error being final. An [*ExhaustedError] matches one of them with
// errors.Is.
var (
	// ErrAttemptsExhausted means every allowed attempt failed.
	ErrAttemptsExhausted = errors.New("retry: attempts exhausted")
	// ErrBudgetExhausted means a retry was due but the retry [Budget] refused it.
	ErrBudgetExhausted = errors.New("retry: budget exhausted")
)

// ExhaustedError is returned when a [Retry] gives up on a call that was still
// failing with a retryable error. It matches its Reason with errors.Is, and
// Unwrap returns the last attempt's error, so errors.Is and errors.As see both:
//
//	errors.Is(err, retry.ErrAttemptsExhausted) // why retrying stopped
//	errors.Is(err, io.ErrUnexpectedEOF)        // what the last attempt returned
//
// A wait hint carried by the last error (see holdfast.RetryAfter) stays
// visible through Unwrap.
type ExhaustedError struct {
	Reason   error // ErrAttemptsExhausted or ErrBudgetExhausted
	Attempts int   // attempts made, first included
	Last     error // the last attempt's error; never nil
}

// Error returns "retry: attempts exhausted after 3 attempts: <last error>".
func (e *ExhaustedError) Error() string {
	s := e.Reason.Error() + " after " + strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		s += "s"
	}
	if e.Last != nil {
		s += ": " + e.Last.Error()
	}
	return s
}

// Is reports whether target is e's Reason.
func (e *ExhaustedError) Is(target error) bool { return target == e.Reason }

// Unwrap returns the last attempt's error.
func (e *ExhaustedError) Unwrap() error { return e.Last }
