package upstream

import (
	"context"
	"errors"
	"math"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// Outcome is how a request to an endpoint ended, as recorded by
// [Endpoint.Done].
type Outcome uint8

// The outcomes of a request.
const (
	// Success: the endpoint answered (any status below 500, or an error the
	// endpoint is not to blame for), and nobody checked the answer.
	Success Outcome = iota
	// Failure: the endpoint failed: a 5xx answer, a refused or reset
	// connection, a timeout. Failures feed outlier detection.
	Failure
	// Canceled: the caller gave up (its context was canceled) before the
	// endpoint answered. Only the in-flight count notices it.
	Canceled
	// Invalid: the endpoint answered, but the answer broke the caller's
	// correctness checks (a proxy route's response checks): a wrong
	// answer, not a failed one. It feeds outlier detection's own streak,
	// ConsecutiveInvariantViolations, and not ConsecutiveFailures; for the
	// latency estimate it is a failure, so that a fast wrong answer does
	// not make the endpoint look fast.
	Invalid
	// Valid: the endpoint answered, and the answer passed the caller's
	// correctness checks. It is a [Success] that also ends a streak of
	// [Invalid] answers; a plain Success, whose answer nobody checked (a
	// route without checks sharing the upstream), leaves that streak be.
	Valid
)

var outcomeNames = [...]string{Success: "success", Failure: "failure", Canceled: "canceled", Invalid: "invalid", Valid: "valid"}

// String returns "success", "failure", "canceled", "invalid" or "valid".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// StatusOutcome classifies an HTTP status: 5xx is a [Failure], anything else a
// [Success].
func StatusOutcome(code int) Outcome {
	if code >= 500 {
		return Failure
	}
	return Success
}

// ErrorOutcome classifies the error of a call made under ctx: nil is a
// [Success]; [context.Canceled], or any error once ctx itself was canceled,
// is [Canceled], since a local cancel (the client went away, a hedge's loser
// was stopped) says nothing about the endpoint; an error marked
// [holdfast.Permanent] is a [Success], since the endpoint gave a definite
// answer; any other error, a deadline included, is a [Failure].
func ErrorOutcome(ctx context.Context, err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled), errors.Is(ctx.Err(), context.Canceled):
		return Canceled
	case holdfast.IsPermanent(err):
		return Success
	}
	return Failure
}

// Latency estimate parameters, as in Linkerd's peak-EWMA balancer.
const (
	// ewmaDecay is the time constant of the estimate: a sample's weight
	// falls to 1/e after this long, and an idle endpoint's estimate decays
	// toward zero at this pace so that it gets probed again.
	ewmaDecay = 10 * time.Second
	// defaultRTT is the estimate of an endpoint with no sample yet. It keeps
	// a new endpoint from looking free (and drawing every request) before
	// its first answer.
	defaultRTT = 30 * time.Millisecond
)

// Endpoint is one server of an [Upstream], with its live state: in-flight
// requests, latency estimate, active health and outlier ejection. Endpoints
// are created by [New] and live as long as their Upstream; all methods are
// safe for concurrent use, and an Endpoint must not be copied.
//
// Every request sent to an endpoint is bracketed by [Endpoint.Start] and
// [Endpoint.Done]:
//
//	ep.Start()
//	begin := time.Now()
//	resp, err := transport.RoundTrip(req)
//	ep.Done(time.Since(begin), outcome)
type Endpoint struct {
	addr     *url.URL
	weight   int
	priority int
	index    int
	u        *Upstream

	inFlight atomic.Int64

	// The latency estimate is published through a sequence lock so that
	// balancers read it without locking: ewmaSeq is odd while a writer is
	// between its two increments.
	// ewmaMu serialises writers of ewmaSeq, ewmaBits and ewmaAt.
	ewmaMu   sync.Mutex
	ewmaSeq  atomic.Uint64
	ewmaBits atomic.Uint64 // float64 nanoseconds; 0 until the first sample
	ewmaAt   atomic.Int64  // Upstream.nanotime of the last sample

	// Passive outlier detection counters, updated on every Done.
	failStreak atomic.Int32 // failures in a row
	lateStreak atomic.Int32 // deadline misses in a row
	badStreak  atomic.Int32 // invalid answers (invariant violations) in a row

	// Published state, read by Pick and Status without locks; written only
	// with Upstream.mu held.
	healthy   atomic.Bool
	ejected   atomic.Bool
	probation atomic.Bool

	// The fields below are guarded by the owning Upstream's mu.
	ejectedUntil time.Time // when the current ejection ends
	ejectLevel   int       // recent ejections; the next lasts base*(level+1)
	ejections    int64     // ejections ever
	returnedAt   time.Time // when the last ejection ended
	ejectGen     uint64    // tells a stale ejection timer from the current one
	ejectTimer   *time.Timer
	checkErr     error     // the last active health check's error, if it failed
	checkedAt    time.Time // when the last active health check finished
}

// Address returns the endpoint's base URL, such as http://127.0.0.1:9001, in
// canonical form (lower-case scheme and host, no path). Callers must not
// modify it.
func (e *Endpoint) Address() *url.URL { return e.addr }

// String returns the endpoint's address.
func (e *Endpoint) String() string { return e.addr.String() }

// Weight returns the endpoint's configured weight.
func (e *Endpoint) Weight() int { return e.weight }

// Priority returns the endpoint's failover group; 0 is the primary.
func (e *Endpoint) Priority() int { return e.priority }

// Index returns the endpoint's position in the upstream's endpoint list, the
// index [Mask] uses.
func (e *Endpoint) Index() int { return e.index }

// InFlight returns the number of requests started and not yet done.
func (e *Endpoint) InFlight() int { return int(e.inFlight.Load()) }

// Healthy reports the endpoint's active health check state; it is always
// true when health checks are off.
func (e *Endpoint) Healthy() bool { return e.healthy.Load() }

// Ejected reports whether outlier detection has ejected the endpoint.
func (e *Endpoint) Ejected() bool { return e.ejected.Load() }

// Probation reports whether the endpoint is back from an ejection and has not
// yet answered well: one failure or deadline miss ejects it again.
func (e *Endpoint) Probation() bool { return e.probation.Load() }

// Usable reports whether the endpoint takes traffic outside panic mode: it is
// healthy and not ejected.
func (e *Endpoint) Usable() bool { return e.healthy.Load() && !e.ejected.Load() }

// EWMA returns the endpoint's current peak-EWMA latency estimate. A sample
// above the estimate replaces it at once (the peak); a lower one pulls it
// down with a weight that grows with the time since the previous sample, so
// the estimate forgets over about ten seconds; and the estimate decays toward
// zero while the endpoint is idle. A failure never lowers the estimate, so a
// fast-failing endpoint does not look attractive. Before the first sample it
// is 30ms.
func (e *Endpoint) EWMA() time.Duration {
	return time.Duration(e.ewma(e.u.nanotime()))
}

// Start records that a request to the endpoint begins. Every Start must be
// followed by exactly one [Endpoint.Done]. It does not allocate.
func (e *Endpoint) Start() { e.inFlight.Add(1) }

// Done records that a request begun with [Endpoint.Start] ended after d with
// outcome o. Any outcome but [Canceled] feeds the latency estimate and
// outlier detection, which may eject the endpoint; [Canceled] only ends the
// request. It does not allocate unless it ejects the endpoint.
func (e *Endpoint) Done(d time.Duration, o Outcome) {
	e.inFlight.Add(-1)
	if o == Canceled {
		return
	}
	e.observe(e.u.nanotime(), float64(max(d, 0)), o == Failure || o == Invalid)
	e.u.record(e, d, o)
}

// ewma returns the latency estimate in nanoseconds at now.
func (e *Endpoint) ewma(now int64) float64 {
	for {
		seq := e.ewmaSeq.Load()
		if seq&1 != 0 {
			runtime.Gosched() // a writer is mid-update; let it finish
			continue
		}
		v := math.Float64frombits(e.ewmaBits.Load())
		at := e.ewmaAt.Load()
		if e.ewmaSeq.Load() != seq {
			continue
		}
		if v == 0 {
			return float64(defaultRTT)
		}
		if idle := now - at; idle > 0 {
			v *= math.Exp(-float64(idle) / float64(ewmaDecay))
		}
		return v
	}
}

// cost is the p2c_ewma load of the endpoint at now.
func (e *Endpoint) cost(now int64) float64 {
	return e.ewma(now) * float64(e.inFlight.Load()+1)
}

// observe folds a latency sample rtt (nanoseconds) taken at now into the
// estimate.
func (e *Endpoint) observe(now int64, rtt float64, failed bool) {
	e.ewmaMu.Lock()
	old := math.Float64frombits(e.ewmaBits.Load())
	next := rtt
	switch {
	case old == 0:
		// First sample: take it as is (never store 0, which means "none"),
		// but do not let a fast failure undercut the default.
		next = max(rtt, 1)
		if failed {
			next = max(rtt, float64(defaultRTT))
		}
	case rtt >= old:
		// Peak: a slower answer raises the estimate at once.
	case failed:
		next = old // a fast failure must not make the endpoint look fast
	default:
		w := math.Exp(-float64(max(now-e.ewmaAt.Load(), 0)) / float64(ewmaDecay))
		next = old*w + rtt*(1-w)
	}
	e.ewmaSeq.Add(1)
	e.ewmaBits.Store(math.Float64bits(next))
	e.ewmaAt.Store(now)
	e.ewmaSeq.Add(1)
	e.ewmaMu.Unlock()
}
