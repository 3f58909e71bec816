package breaker

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// State is a breaker's state. The zero value is Closed.
type State uint8

// The states of a [Breaker].
const (
	// Closed admits every call and watches the failures in its window.
	Closed State = iota
	// Open refuses every call with [ErrOpen] until its open time is over.
	Open
	// HalfOpen admits a fixed number of probe calls; their outcome decides
	// whether the breaker closes or opens again.
	HalfOpen
)

var stateNames = [...]string{Closed: "closed", Open: "open", HalfOpen: "half_open"}

// String returns "closed", "open" or "half_open".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText returns the String form, so a State appears as "open" in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the String form back, so a snapshot decoded from JSON
// (a /status answer) has its State.
func (s *State) UnmarshalText(b []byte) error {
	for i, name := range stateNames {
		if string(b) == name {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("breaker: unknown state %q", b)
}

// Reasons for a state change, carried in holdfast.Event.Reason.
const (
	ReasonFailureRate         = "failure_rate"
	ReasonConsecutiveFailures = "consecutive_failures"
	ReasonSlowCallRate        = "slow_call_rate"
	ReasonOpenElapsed         = "open_duration_elapsed"
	ReasonProbeFailed         = "probe_failed"
	ReasonProbeSlow           = "probe_slow"
	ReasonProbesSucceeded     = "probes_succeeded"
	ReasonForced              = "forced"
	ReasonReset               = "reset"
)

// epoch is one stretch of a breaker's life in a single state. A new epoch
// starts with every transition, and a [Permit] remembers the epoch that
// admitted it, so the outcome of a call admitted before a transition is
// dropped instead of being counted against the new state.
//
// Everything but the window and consec is fixed once the epoch is published.
type epoch struct {
	b      *Breaker
	state  State
	forced bool // ForceOpen or ForceClosed: no timer, no tripping
	// until is when an open epoch may half-open, on the breaker's clock.
	until int64
	// reopens counts the reopenings from half-open that led to this open
	// epoch; it is what grows the open time.
	reopens int

	// Closed epochs only: the outcomes counted since the epoch began.
	count  *countWindow // for window_type count
	timed  *timeWindow  // for window_type time
	consec atomic.Int64 // failures in a row
}

// noTime marks an unknown instant or duration on the breaker's clock.
const noTime = math.MinInt64

// now returns the current time on the breaker's clock: nanoseconds since the
// breaker was made. time.Since reads only the monotonic clock, which costs
// about half of time.Now.
func (b *Breaker) now() int64 { return int64(time.Since(b.base)) }

// coarseNow is now read from the coarse clock: never ahead of now and
// normally at most holdfast.CoarseTick (1ms) behind it (exact in a synctest
// bubble). It places a time window's outcomes, whose buckets are at least
// 1ms wide, without a system clock read per call.
func (b *Breaker) coarseNow() int64 { return int64(b.clock.Since()) }

// at converts t to the breaker's clock. Explicit times without a monotonic
// reading are compared by wall clock, consistently among themselves.
func (b *Breaker) at(t time.Time) int64 { return int64(t.Sub(b.base)) }

// openFor returns the open time after reopens reopenings in a row, grown by
// OpenBackoff and capped by MaxOpenDuration.
func (b *Breaker) openFor(reopens int) time.Duration {
	d := float64(b.cfg.OpenDuration) * math.Pow(b.cfg.OpenBackoff, float64(reopens))
	if d >= float64(b.cfg.MaxOpenDuration) {
		return b.cfg.MaxOpenDuration
	}
	return time.Duration(d)
}

// change is a state transition to report once the lock is released.
type change struct {
	from, to State
	reason   string
	open     time.Duration // the open time, when to is Open
	err      error         // the failure that caused it, if any
}

// toLocked ends epoch from (the current one) and starts a new one in state to,
// at time now. It returns the change to report, and ok false when the visible
// state did not change (such as forcing open an open breaker), which is not
// reported. b.mu must be held.
func (b *Breaker) toLocked(from *epoch, to State, forced bool, now int64, reason string, err error) (c change, ok bool) {
	e := &epoch{b: b, state: to, forced: forced}
	c = change{from: from.state, to: to, reason: reason, err: err}
	switch to {
	case Closed:
		b.reopens = 0
		if b.cfg.WindowType == WindowTime {
			e.timed = newTimeWindow(b.cfg.Window, b.cfg.WindowBuckets)
		} else {
			e.count = newCountWindow(b.cfg.WindowSize)
		}
	case Open:
		if from.state == HalfOpen && !forced {
			b.reopens++
		} else if !forced {
			b.reopens = 0
		}
		e.reopens = b.reopens
		if forced {
			e.until = math.MaxInt64
		} else {
			c.open = b.openFor(b.reopens)
			e.until = addSat(now, int64(c.open))
			b.trips++
		}
	case HalfOpen:
		b.probes, b.probeOK = 0, 0
	}
	b.cur.Store(e)
	return c, from.state != to
}

// addSat returns a+d, saturating instead of overflowing.
func addSat(a, d int64) int64 {
	if d > 0 && a > math.MaxInt64-d {
		return math.MaxInt64
	}
	return a + d
}
