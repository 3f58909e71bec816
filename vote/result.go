package vote

import (
	"fmt"
	"strings"
	"time"
)

// Status is how one implementation took part in a vote.
type Status uint8

// The statuses of a [Vote].
const (
	// StatusAgreed: answered with the agreed value.
	StatusAgreed Status = iota + 1
	// StatusDissented: answered, but not with the agreed value (or there
	// was no agreed value).
	StatusDissented
	// StatusFailed: returned an error.
	StatusFailed
	// StatusMissing: did not answer before the deadline.
	StatusMissing
	// StatusCancelled: still running when the outcome became certain, and
	// cancelled (only without Config.WaitAll).
	StatusCancelled
)

var statusNames = [...]string{
	StatusAgreed:    "agreed",
	StatusDissented: "dissented",
	StatusFailed:    "failed",
	StatusMissing:   "missing",
	StatusCancelled: "cancelled",
}

// String returns the lower-case name of s.
func (s Status) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Vote is one implementation's part in a vote.
type Vote[T any] struct {
	Name    string        // the implementation's name
	Status  Status        // how it took part
	Value   T             // its answer, if it answered
	Err     error         // its error, if it failed
	Latency time.Duration // how long it took to answer or fail; 0 if it did neither
}

// Result is the outcome of [Voter.Run].
type Result[T any] struct {
	// Value is the agreed answer: that of the first agreeing
	// implementation, in the order given to Run. It is the zero T without a
	// quorum.
	Value T
	// Votes has one entry per implementation, in the order given to Run.
	Votes []Vote[T]
	// Report summarises Votes by name.
	Report Report
}

// Report names the implementations of a vote by what they did. Each list is
// in the order the implementations were given.
type Report struct {
	Quorum int // votes needed to agree
	Voters int // implementations that took part

	// Agreed are the implementations whose answers formed the quorum.
	Agreed []string
	// Dissenters answered something else. Without a quorum there is no
	// majority to dissent from, and every implementation that answered is
	// listed here; Groups shows who agreed with whom.
	Dissenters []string
	// Failed returned errors.
	Failed []Failure
	// Missing did not answer before the deadline.
	Missing []string
	// Cancelled were still running when the outcome became certain.
	Cancelled []string
	// Groups are the sets of implementations that gave equal answers,
	// largest first (ties in the order of their first member).
	Groups [][]string
}

// Failure is an implementation that returned an error.
type Failure struct {
	Name string
	Err  error
}

// Unanimous reports whether every implementation answered and agreed.
func (r Report) Unanimous() bool { return r.Voters > 0 && len(r.Agreed) == r.Voters }

// String summarises r on one line, such as
// "2/3 agreed (quorum 2); dissented: c".
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d agreed (quorum %d)", len(r.Agreed), r.Voters, r.Quorum)
	if len(r.Agreed) == 0 && len(r.Groups) > 0 {
		groups := make([]string, len(r.Groups))
		for i, g := range r.Groups {
			groups[i] = "[" + strings.Join(g, " ") + "]"
		}
		b.WriteString("; answers split " + strings.Join(groups, " "))
	} else if len(r.Dissenters) > 0 {
		b.WriteString("; dissented: " + strings.Join(r.Dissenters, ", "))
	}
	if len(r.Failed) > 0 {
		fs := make([]string, len(r.Failed))
		for i, f := range r.Failed {
			fs[i] = f.Name + " (" + f.Err.Error() + ")"
		}
		b.WriteString("; failed: " + strings.Join(fs, ", "))
	}
	if len(r.Missing) > 0 {
		b.WriteString("; missing: " + strings.Join(r.Missing, ", "))
	}
	if len(r.Cancelled) > 0 {
		b.WriteString("; cancelled: " + strings.Join(r.Cancelled, ", "))
	}
	return b.String()
}
