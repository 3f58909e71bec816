package adaptive

import (
	"context"
	"errors"
	"fmt"
)

// ErrLimited is matched (with errors.Is) by every refusal of a [Limiter]:
// as many calls were in flight as the current limit allows. The error
// returned is a [*LimitedError] with the details.
var ErrLimited = errors.New("adaptive: concurrency limit reached")

// LimitedError is the error a [Limiter] returns when it refuses a call. It
// matches [ErrLimited]; its reason, in events and local replies, is
// holdfast.ReasonOverloaded.
type LimitedError struct {
	// Limit is the limit in force when the call was refused.
	Limit int
	// InFlight is how many calls were in flight then.
	InFlight int
}

// Error describes the refusal, starting with "adaptive:".
func (e *LimitedError) Error() string {
	return fmt.Sprintf("adaptive: concurrency limit reached: %d in flight, limit %d", e.InFlight, e.Limit)
}

// Is reports whether target is [ErrLimited].
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// Unwrap returns [ErrLimited]: a refusal has no deeper cause than the limit.
func (e *LimitedError) Unwrap() error { return ErrLimited }

// IsDrop is the default Config.IsDrop. It reports whether err says the
// dependency is overloaded: err matches context.DeadlineExceeded (the call
// ran out of time) or [ErrLimited] (a limiter further down refused it), or
// some error in its chain has a Timeout method that returns true, as
// net.Error does.
func IsDrop(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrLimited) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
