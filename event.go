package holdfast

import (
	"context"
	"fmt"
	"time"
)

// EventKind says what happened in an [Event].
type EventKind uint8

// The kinds of [Event] a policy reports.
const (
	// EventAttempt: a call attempt starts (Attempt counts from 1).
	EventAttempt EventKind = iota + 1
	// EventRetry: a failed attempt will be retried after Delay.
	EventRetry
	// EventStateChange: the policy moved from state From to state To.
	EventStateChange
	// EventRejected: the policy refused a call without running it; Reason says why.
	EventRejected
	// EventHedge: a hedged (extra) attempt started after Delay.
	EventHedge
	// EventVote: a vote finished; Reason is "agreed", "no_quorum" or "dissent".
	EventVote
	// EventSilenced: a guard quarantined its component.
	EventSilenced
	// EventRecovered: a guard re-admitted its component after its probes passed.
	EventRecovered
	// EventTimeout: a call passed its deadline.
	EventTimeout
	// EventFallback: a fallback replaced a failure with its value.
	EventFallback
	// EventQueued: a call waited Delay for a slot before running.
	EventQueued
	// EventLimitChanged: an adaptive limit moved; Value holds the new limit.
	EventLimitChanged
	// EventViolation: a result broke an invariant and was withheld.
	EventViolation
	// EventOverrun: a function kept running Delay past its deadline.
	EventOverrun
)

var eventKindNames = [...]string{
	EventAttempt:      "attempt",
	EventRetry:        "retry",
	EventStateChange:  "state_change",
	EventRejected:     "rejected",
	EventHedge:        "hedge",
	EventVote:         "vote",
	EventSilenced:     "silenced",
	EventRecovered:    "recovered",
	EventTimeout:      "timeout",
	EventFallback:     "fallback",
	EventQueued:       "queued",
	EventLimitChanged: "limit_changed",
	EventViolation:    "violation",
	EventOverrun:      "overrun",
}

// String returns the snake_case name of k, as used in metric labels.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Rejection reasons carried in [Event].Reason for [EventRejected]. They match
// the proxy's local-reply reasons where one exists.
const (
	ReasonBreakerOpen     = "breaker_open"
	ReasonRateLimited     = "rate_limited"
	ReasonOverloaded      = "overloaded" // bulkhead full or adaptive limit reached
	ReasonBudgetExhausted = "budget_exhausted"
	ReasonSilenced        = "silenced"
	ReasonQueueTimeout    = "queue_timeout"
)

// Event is one thing a policy did. Fields that do not apply to a Kind are zero.
type Event struct {
	Source  Kind          // the kind of policy that emitted it
	Policy  string        // the policy's configured name, or its package name
	Kind    EventKind     // what happened
	Attempt int           // attempt number, from 1, where it applies
	Delay   time.Duration // backoff, hedge delay, queue wait or overrun
	From    string        // previous state, for EventStateChange
	To      string        // new state, for EventStateChange
	Reason  string        // why, for EventRejected and EventVote
	Value   float64       // a measured value, such as the new adaptive limit
	Err     error         // the error that caused the event, if any
}

// String formats e for logs and test failures.
func (e Event) String() string {
	s := e.Policy + ": " + e.Kind.String()
	if e.Attempt > 0 {
		s += fmt.Sprintf(" attempt=%d", e.Attempt)
	}
	if e.Delay > 0 {
		s += " delay=" + e.Delay.String()
	}
	if e.From != "" || e.To != "" {
		s += " " + e.From + "->" + e.To
	}
	if e.Reason != "" {
		s += " reason=" + e.Reason
	}
	if e.Value != 0 {
		s += fmt.Sprintf(" value=%g", e.Value)
	}
	if e.Err != nil {
		s += " err=" + e.Err.Error()
	}
	return s
}

// Listener receives the events of every policy it is given to, or, attached
// to a context with [WithListener], of every call made under that context.
// OnEvent may be called from many goroutines at once, and never while a
// policy holds a lock; it should return quickly.
type Listener interface {
	OnEvent(Event)
}

// ListenerFunc adapts a function to [Listener].
type ListenerFunc func(Event)

// OnEvent calls f(e).
func (f ListenerFunc) OnEvent(e Event) { f(e) }

// Emit sends e to l when l is not nil. Policies call it, for events no call's
// context is behind (a timer's, a background probe's), instead of checking
// for a nil listener themselves; for the events of a call they use
// [EmitContext].
func Emit(l Listener, e Event) {
	if l != nil {
		l.OnEvent(e)
	}
}

// listenersKey is the context key of the listeners [WithListener] attaches.
type listenersKey struct{}

// WithListener returns a copy of ctx that carries l, for the events of the
// calls made under it: every policy that runs a call with that context, or
// one derived from it, sends the call's events to l as well as to the
// Listener it was configured with (see [EmitContext]). Listeners stack:
// when ctx already carries some, the copy carries them and then l, so a
// span, a request log and a test can each listen to the same call. A nil
// l returns ctx itself.
//
// Attaching allocates; a call under a context that carries no listener
// costs a context lookup per event and no allocation.
//
// A listener attached this way hears events as they happen, on the
// goroutine that emits them; some may come after the call returned, such
// as a timeout's overrun or an abandoned hedge attempt's events.
func WithListener(ctx context.Context, l Listener) context.Context {
	if l == nil {
		return ctx
	}
	old := contextListeners(ctx)
	ls := make(Listeners, len(old), len(old)+1)
	copy(ls, old) // never append to old: another context may share its array
	ls = append(ls, l)
	return context.WithValue(ctx, listenersKey{}, ls)
}

// EmitContext sends e to l when l is not nil, as [Emit] does, and then to
// every listener ctx carries ([WithListener]), the first attached first.
// Policies call it for the events of a call, with the call's context. A
// listener both configured and attached hears e twice. A nil ctx carries
// no listener.
func EmitContext(ctx context.Context, l Listener, e Event) {
	if l != nil {
		l.OnEvent(e)
	}
	for _, cl := range contextListeners(ctx) {
		cl.OnEvent(e)
	}
}

// contextListeners returns the listeners ctx carries, or nil. The slice is
// shared with ctx and must not be modified.
func contextListeners(ctx context.Context) Listeners {
	if ctx == nil {
		return nil
	}
	ls, _ := ctx.Value(listenersKey{}).(Listeners)
	return ls
}

// Listeners fans one event out to several listeners, in order.
type Listeners []Listener

// OnEvent sends e to every listener in ls.
func (ls Listeners) OnEvent(e Event) {
	for _, l := range ls {
		Emit(l, e)
	}
}
