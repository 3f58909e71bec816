package adaptive

import (
	"errors"
	"fmt"
	"time"
)

// Priority is how much a call matters when there is not room for all:
// brownout before blackout. Under overload the limiter sheds sheddable
// calls first, then default ones, and critical ones last. Its zero value
// is [PriorityDefault].
type Priority string

// The priorities.
const (
	// PriorityCritical calls are admitted while any slot is free.
	PriorityCritical Priority = "critical"
	// PriorityDefault calls are admitted while they leave at most
	// DefaultShare of the limit in flight, when critical calls share it.
	PriorityDefault Priority = "default"
	// PrioritySheddable calls are admitted while they leave at most
	// SheddableShare of the limit in flight, when calls of a higher
	// priority share it, and not at all while an urgent alert burns.
	PrioritySheddable Priority = "sheddable"
)

// The shares of the limit a priority may fill when a higher one shares it:
// the rest is kept for the priorities above. A priority may always fill
// one slot, so that a limit that is low (or has no samples yet) never
// starves it. The adaptive limit follows the latency of what it admits, so
// lower-priority traffic alone still finds the upstream's capacity: the
// limit grows until that priority's share of it does.
const (
	DefaultShare   = 0.5
	SheddableShare = 0.25
)

// ShedRetryAfter is the wait a shed call is told to leave before it tries
// again.
const ShedRetryAfter = time.Second

// Rank orders the priorities: 0 for sheddable, 1 for default (and empty),
// 2 for critical.
func (p Priority) Rank() int {
	switch p {
	case PrioritySheddable:
		return 0
	case PriorityCritical:
		return 2
	}
	return 1
}

// Valid reports whether p is one of the priorities or empty (default).
func (p Priority) Valid() bool {
	switch p {
	case "", PriorityCritical, PriorityDefault, PrioritySheddable:
		return true
	}
	return false
}

// Shed is the brownout decision, the one place it is made: whether a call
// of priority p is refused with inFlight calls in flight under limit, when
// top is the highest priority of the calls that share the limit, while
// burning says an urgent alert (P0) fires.
//
// A sheddable call is shed while burning. Otherwise a call of a lower
// priority than top is shed when admitting it would put more than its
// priority's share of the limit in flight (at least one slot); a call of
// priority top is never shed here (it meets the limit itself), so calls of
// one priority alone are limited as they would be without priorities. A
// limit of 0 means no limit: only burning sheds.
func Shed(p, top Priority, inFlight, limit int, burning bool) bool {
	if p == PrioritySheddable && burning {
		return true
	}
	if p.Rank() >= top.Rank() || limit <= 0 {
		return false
	}
	share := DefaultShare
	if p == PrioritySheddable {
		share = SheddableShare
	}
	slots := max(1, int(share*float64(limit)))
	return inFlight+1 > slots
}

// ErrShed is matched (with errors.Is) by every refusal of
// [Limiter.AcquirePriority] that kept room for calls of a higher priority.
// The error returned is a [*ShedError].
var ErrShed = errors.New("adaptive: shed for calls of higher priority")

// ShedError is the refusal of a call shed by its priority. It matches
// [ErrShed]; its reason in local replies is "shed".
type ShedError struct {
	Priority Priority
	// Limit and InFlight are the limit and the calls in flight then (0
	// and 0 when an urgent alert shed it without a limit).
	Limit, InFlight int
	// Burning is true when an urgent alert fired.
	Burning bool
}

// Error describes the refusal, starting with "adaptive:".
func (e *ShedError) Error() string {
	if e.Burning && e.Limit == 0 {
		return fmt.Sprintf("adaptive: %s call shed while an urgent alert burns", e.Priority)
	}
	return fmt.Sprintf("adaptive: %s call shed: %d in flight, limit %d (burning %v)", e.Priority, e.InFlight, e.Limit, e.Burning)
}

// Is reports whether target is [ErrShed].
func (e *ShedError) Is(target error) bool { return target == ErrShed }

// Unwrap returns [ErrShed].
func (e *ShedError) Unwrap() error { return ErrShed }

// RetryAfter is [ShedRetryAfter]: shedding lasts while the overload does,
// and a client that waits a second gives it room to pass.
func (e *ShedError) RetryAfter() time.Duration { return ShedRetryAfter }

// AcquirePriority is [Limiter.Acquire] for a call of priority p among calls
// of at most priority top: it sheds the call by [Shed] first (a
// [*ShedError]), then meets the limit (a [*LimitedError]). A nil Limiter
// only sheds by burning.
func (l *Limiter) AcquirePriority(p, top Priority, burning bool) (Token, error) {
	if l == nil {
		if Shed(p, top, 0, 0, burning) {
			return Token{}, &ShedError{Priority: p, Burning: burning}
		}
		return Token{}, nil
	}
	n, lim := int(l.inFlight.Load()), int(l.limit.Load())
	if Shed(p, top, n, lim, burning) {
		return Token{}, &ShedError{Priority: p, Limit: lim, InFlight: n, Burning: burning}
	}
	return l.Acquire()
}
