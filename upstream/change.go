package upstream

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// ChangeKind says what changed in a [Change].
type ChangeKind uint8

// The kinds of [Change].
const (
	// EndpointUnhealthy: active health checks failed UnhealthyThreshold
	// times in a row.
	EndpointUnhealthy ChangeKind = iota + 1
	// EndpointHealthy: an unhealthy endpoint passed HealthyThreshold checks
	// in a row.
	EndpointHealthy
	// EndpointEjected: outlier detection ejected the endpoint until Until.
	EndpointEjected
	// EndpointProbation: an ejection ended; the endpoint is back on
	// probation.
	EndpointProbation
	// EndpointRestored: an endpoint on probation answered well and is fully
	// back.
	EndpointRestored
	// PanicEntered: no endpoint of the upstream is usable, so traffic goes to
	// all of them.
	PanicEntered
	// PanicExited: an endpoint is usable again; panic mode is over.
	PanicExited
)

var changeKindNames = [...]string{
	EndpointUnhealthy: "endpoint_unhealthy",
	EndpointHealthy:   "endpoint_healthy",
	EndpointEjected:   "endpoint_ejected",
	EndpointProbation: "endpoint_probation",
	EndpointRestored:  "endpoint_restored",
	PanicEntered:      "panic_entered",
	PanicExited:       "panic_exited",
}

// String returns the snake_case name of k, as used in metric labels.
func (k ChangeKind) String() string {
	if int(k) < len(changeKindNames) && changeKindNames[k] != "" {
		return changeKindNames[k]
	}
	return "change(" + strconv.Itoa(int(k)) + ")"
}

// Reasons carried in [Change].Reason.
const (
	ReasonHealthCheck                    = "health_check"                     // active health checks
	ReasonConsecutiveFailures            = "consecutive_failures"             // outlier detection: failures in a row
	ReasonDeadlineMisses                 = "deadline_misses"                  // outlier detection: late answers in a row
	ReasonConsecutiveInvariantViolations = "consecutive_invariant_violations" // outlier detection: invalid answers in a row
	ReasonProbationFailure               = "probation_failure"                // failed, invalid or late while on probation
	ReasonEjectionEnded                  = "ejection_ended"                   // the ejection time passed
	ReasonProbationPassed                = "probation_passed"                 // a timely success on probation
	ReasonNoUsableEndpoint               = "no_usable_endpoint"               // panic mode entered
	ReasonEndpointUsable                 = "endpoint_usable"                  // panic mode exited
)

// Change is one change of an upstream's state, reported to
// [Config].OnChange and, as an [holdfast.Event], to [Config].Listener.
type Change struct {
	Upstream string     // the upstream's name
	Kind     ChangeKind // what changed
	Endpoint *Endpoint  // the endpoint concerned; nil for panic changes
	Reason   string     // why, one of the Reason constants
	Until    time.Time  // for EndpointEjected: when the ejection ends
	Err      error      // for EndpointUnhealthy: the last check's error
}

// Event returns c as an [holdfast.EventStateChange] of policy c.Upstream:
// From and To are "healthy"/"unhealthy" for health changes,
// "active"/"ejected"/"probation" for outlier changes and "normal"/"panic" for
// panic mode; Delay is an ejection's length from now. The endpoint is not
// part of the event; use [Config].OnChange where it matters.
func (c Change) Event() holdfast.Event {
	e := holdfast.Event{Source: holdfast.KindUpstream, Policy: c.Upstream, Kind: holdfast.EventStateChange, Reason: c.Reason, Err: c.Err}
	switch c.Kind {
	case EndpointUnhealthy:
		e.From, e.To = "healthy", "unhealthy"
	case EndpointHealthy:
		e.From, e.To = "unhealthy", "healthy"
	case EndpointEjected:
		e.From, e.To = "active", "ejected"
		if c.Reason == ReasonProbationFailure {
			e.From = "probation"
		}
	case EndpointProbation:
		e.From, e.To = "ejected", "probation"
	case EndpointRestored:
		e.From, e.To = "probation", "active"
	case PanicEntered:
		e.From, e.To = "normal", "panic"
	case PanicExited:
		e.From, e.To = "panic", "normal"
	}
	return e
}

// emit reports changes to the listener, the OnChange hook and the logger. It
// must be called without u.mu held: all three run user code.
func (u *Upstream) emit(changes ...Change) {
	for _, c := range changes {
		c.Upstream = u.name
		if u.cfg.Listener != nil {
			e := c.Event()
			if c.Kind == EndpointEjected {
				e.Delay = max(time.Until(c.Until), 0)
			}
			holdfast.Emit(u.cfg.Listener, e)
		}
		if u.cfg.OnChange != nil {
			u.cfg.OnChange(c)
		}
		if l := u.cfg.Logger; l != nil && l.Enabled(context.Background(), slog.LevelInfo) {
			attrs := []slog.Attr{slog.String("upstream", u.name), slog.String("reason", c.Reason)}
			if c.Endpoint != nil {
				attrs = append(attrs, slog.String("endpoint", c.Endpoint.String()))
			}
			if !c.Until.IsZero() {
				attrs = append(attrs, slog.Time("until", c.Until))
			}
			if c.Err != nil {
				attrs = append(attrs, slog.String("error", c.Err.Error()))
			}
			l.LogAttrs(context.Background(), slog.LevelInfo, "upstream "+c.Kind.String(), attrs...)
		}
	}
}
