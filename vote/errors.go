package vote

import "errors"

var (
	// ErrNoQuorum is matched by [*NoQuorumError]: not enough
	// implementations agreed.
	ErrNoQuorum = errors.New("vote: no quorum")

	// ErrDecided is the cause (see context.Cause) with which a vote cancels
	// the implementations still running once its outcome is certain or its
	// result returned.
	ErrDecided = errors.New("vote: decided without this voter")
)

// NoQuorumError reports a vote in which no answer reached the quorum. It
// matches [ErrNoQuorum] with errors.Is; Report says who answered what.
//
// It deliberately does not unwrap to the implementations' errors (they are
// in Report.Failed): one failing implementation's holdfast.Permanent error
// must not make a retry policy give up on the whole vote.
type NoQuorumError struct {
	Policy string // the voter's configured name
	Report Report
}

// Error returns "vote: <policy>: no quorum: <report>".
func (e *NoQuorumError) Error() string {
	return "vote: " + e.Policy + ": no quorum: " + e.Report.String()
}

// Is reports whether target is [ErrNoQuorum].
func (e *NoQuorumError) Is(target error) bool { return target == ErrNoQuorum }
