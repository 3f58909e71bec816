package bulkhead

import (
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// ErrFull is matched (with errors.Is) by every refusal of a [Bulkhead]: all
// slots were taken and the call could neither queue nor get a slot in time.
// The error returned is a [*FullError] with the details.
var ErrFull = errors.New("bulkhead: full")

// FullError is the error a [Bulkhead] returns when it refuses a call. It
// matches [ErrFull].
type FullError struct {
	// Reason is holdfast.ReasonOverloaded when every slot and queue place
	// was taken, or holdfast.ReasonQueueTimeout when the call waited in the
	// queue for the full QueueTimeout without getting a slot.
	Reason string
	// Limit and Queue are the bulkhead's configured sizes.
	Limit, Queue int
	// Waited is how long the call queued before it was refused; zero for
	// ReasonOverloaded.
	Waited time.Duration
}

// Error describes the refusal, starting with "bulkhead: full".
func (e *FullError) Error() string {
	if e.Reason == holdfast.ReasonQueueTimeout {
		return fmt.Sprintf("bulkhead: full: no slot free after queueing %v (limit %d)", e.Waited, e.Limit)
	}
	if e.Queue == 0 {
		return fmt.Sprintf("bulkhead: full: all %d slots taken", e.Limit)
	}
	return fmt.Sprintf("bulkhead: full: all %d slots and %d queue places taken", e.Limit, e.Queue)
}

// Is reports whether target is [ErrFull].
func (e *FullError) Is(target error) bool { return target == ErrFull }

// Unwrap returns [ErrFull]: a refusal has no deeper cause than the bulkhead
// being full.
func (e *FullError) Unwrap() error { return ErrFull }
