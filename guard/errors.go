package guard

import (
	"errors"
	"time"
)

// The guard's failure modes.
var (
	// ErrInvariant is matched by [*InvariantError]: a result broke an
	// invariant and was withheld.
	ErrInvariant = errors.New("guard: invariant violated")
	// ErrSilenced is matched by [*SilencedError]: the guard is quarantining
	// its component and refused the call.
	ErrSilenced = errors.New("guard: silenced")
)

// errTrialPanicked is the outcome recorded for a trial call that panicked.
var errTrialPanicked = errors.New("guard: trial call panicked")

// InvariantError reports a result withheld because it broke an invariant. It
// matches [ErrInvariant] with errors.Is and unwraps to the error
// [Config.Check] returned.
type InvariantError struct {
	Policy string // the guard's configured name
	Err    error  // the violation, as returned by Config.Check

	// owner is the guard that already counted this violation, so that its
	// Execute does not count it a second time.
	owner any
}

// Error returns "guard: <policy>: invariant violated: <err>".
func (e *InvariantError) Error() string {
	return "guard: " + e.Policy + ": invariant violated: " + e.Err.Error()
}

// Is reports whether target is [ErrInvariant].
func (e *InvariantError) Is(target error) bool { return target == ErrInvariant }

// Unwrap returns the violation.
func (e *InvariantError) Unwrap() error { return e.Err }

// SilencedError reports a call refused because the guard is silent. It
// matches [ErrSilenced] with errors.Is and implements
// [holdfast.RetryAfterError].
type SilencedError struct {
	Policy string        // the guard's configured name
	Wait   time.Duration // the soonest the guard could be re-admitting calls
	// Cause is the violation that silenced the guard: what Config.Check
	// returned, or the error matching ErrInvariant that a call returned.
	// In the second case the SilencedError matches ErrInvariant too, so
	// callers telling the two apart should test for ErrSilenced first.
	Cause error
}

// Error returns "guard: <policy>: silenced after: <cause>".
func (e *SilencedError) Error() string {
	if e.Cause == nil {
		return "guard: " + e.Policy + ": silenced"
	}
	return "guard: " + e.Policy + ": silenced after: " + e.Cause.Error()
}

// Is reports whether target is [ErrSilenced].
func (e *SilencedError) Is(target error) bool { return target == ErrSilenced }

// Unwrap returns the violation that silenced the guard.
func (e *SilencedError) Unwrap() error { return e.Cause }

// RetryAfter returns [SilencedError.Wait], the time until the guard could
// recover if every remaining probe passes.
func (e *SilencedError) RetryAfter() time.Duration { return e.Wait }
