package breaker

import (
	"errors"
	"fmt"
	"time"
)

// ErrOpen is returned, wrapped in an [*OpenError], for a call the breaker
// refused without running: it is open, or it is half-open and all of its probe
// calls are taken. Test for it with errors.Is(err, breaker.ErrOpen).
var ErrOpen = errors.New("breaker: open")

// OpenError is the detail of an [ErrOpen] rejection. It matches ErrOpen with
// errors.Is and carries a wait hint for holdfast.RetryAfter.
//
// A rejection ran nothing, so it has no cause to unwrap: in particular it
// never wraps the failure that tripped the breaker, so that a rejection is
// never mistaken for that failure (errors.Is(err, context.DeadlineExceeded)
// stays false for it).
type OpenError struct {
	// Name is the breaker's configured name.
	Name string
	// State is Open, or HalfOpen when all probe calls were taken.
	State State
	// Forced reports that the breaker was forced open with ForceOpen and
	// stays open until ForceClosed or Reset.
	Forced bool
	// Remaining is how long the breaker stays open before it admits a
	// probe. It is 0 when that is not known: when forced open, or half-open
	// with its probes in flight.
	Remaining time.Duration
}

// Error returns a message such as "breaker: catalog is open; retry in 12s".
func (e *OpenError) Error() string {
	switch {
	case e.Forced:
		return fmt.Sprintf("breaker: %s is forced open", e.Name)
	case e.State == HalfOpen:
		return fmt.Sprintf("breaker: %s is half-open and its probe calls are taken", e.Name)
	default:
		return fmt.Sprintf("breaker: %s is open; retry in %v", e.Name, e.Remaining)
	}
}

// Is reports whether target is [ErrOpen].
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// RetryAfter returns Remaining, the time until the breaker admits a probe, or
// 0 when that is not known. It makes *OpenError a holdfast.RetryAfterError.
func (e *OpenError) RetryAfter() time.Duration { return e.Remaining }
