package holdfastotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdfast-dev/holdfast"
)

// The attributes of a span event; see [Attributes].
const (
	// AttrPolicy is the policy's configured name ([holdfast.Event].Policy).
	AttrPolicy = attribute.Key("holdfast.policy")
	// AttrSource is the kind of policy that emitted the event: "retry",
	// "breaker", "hedge", ... ([holdfast.Kind]).
	AttrSource = attribute.Key("holdfast.source")
	// AttrAttempt is the attempt number, from 1.
	AttrAttempt = attribute.Key("holdfast.attempt")
	// AttrDelay is the event's delay in seconds, a float64: a retry's
	// backoff, a hedge's delay, a wait in a queue, an overrun, a breaker's
	// open time or the Retry-After of a refusal.
	AttrDelay = attribute.Key("holdfast.delay")
	// AttrFrom and AttrTo are the states of a state change.
	AttrFrom = attribute.Key("holdfast.from")
	AttrTo   = attribute.Key("holdfast.to")
	// AttrReason says why: a refusal's reason ([holdfast.ReasonBreakerOpen]
	// and the others), a state change's, a vote's outcome.
	AttrReason = attribute.Key("holdfast.reason")
	// AttrValue is a measured value: an adaptive limit's new value, the
	// number of votes that agreed.
	AttrValue = attribute.Key("holdfast.value")
	// AttrError is the message of the error behind the event.
	AttrError = attribute.Key("holdfast.error")
)

// EventName returns the name of e's span event: "holdfast." and the
// snake_case name of its kind, as in "holdfast.retry".
func EventName(e holdfast.Event) string { return "holdfast." + e.Kind.String() }

// Attributes returns the attributes of e's span event: the policy and its
// kind always, and the others where they apply to e's Kind (see
// [holdfast.Event]): attempt when there is one; delay for retries, hedges,
// queue waits and overruns, and for other events when not zero; from and
// to for state changes; reason when there is one; value for limit changes
// and votes, and for other events when not zero; error when there is one.
func Attributes(e holdfast.Event) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, AttrPolicy.String(e.Policy), AttrSource.String(e.Source.String()))
	if e.Attempt > 0 {
		attrs = append(attrs, AttrAttempt.Int(e.Attempt))
	}
	switch e.Kind {
	case holdfast.EventRetry, holdfast.EventHedge, holdfast.EventQueued, holdfast.EventOverrun:
		attrs = append(attrs, AttrDelay.Float64(e.Delay.Seconds()))
	default:
		if e.Delay != 0 {
			attrs = append(attrs, AttrDelay.Float64(e.Delay.Seconds()))
		}
	}
	if e.From != "" || e.To != "" {
		attrs = append(attrs, AttrFrom.String(e.From), AttrTo.String(e.To))
	}
	if e.Reason != "" {
		attrs = append(attrs, AttrReason.String(e.Reason))
	}
	if e.Value != 0 || e.Kind == holdfast.EventLimitChanged || e.Kind == holdfast.EventVote {
		attrs = append(attrs, AttrValue.Float64(e.Value))
	}
	if e.Err != nil {
		attrs = append(attrs, AttrError.String(e.Err.Error()))
	}
	return attrs
}

// spanListener adds the events it hears to a span.
type spanListener struct {
	span trace.Span
}

var _ holdfast.Listener = spanListener{}

// Listener returns a [holdfast.Listener] that adds every event it hears to
// span as a span event named by [EventName] with [Attributes]. It skips the
// work when span is not recording (not sampled, or ended). It is safe for
// concurrent use, as spans are; it never sets the span's status. A nil
// span gives a listener that does nothing.
func Listener(span trace.Span) holdfast.Listener { return spanListener{span: span} }

// OnEvent adds e to the span.
func (l spanListener) OnEvent(e holdfast.Event) {
	if l.span == nil || !l.span.IsRecording() {
		return
	}
	l.span.AddEvent(EventName(e), trace.WithAttributes(Attributes(e)...))
}

// WithSpanEvents returns a copy of ctx under which the events of every
// call become span events on ctx's span, the one trace.SpanFromContext(ctx)
// returns now: it attaches [Listener] of that span with
// [holdfast.WithListener]. Spans started later, under the returned
// context, do not change where the events go. When ctx's span is not
// recording (there is none, or it is not sampled), WithSpanEvents returns
// ctx itself, and calls under it pay nothing for tracing.
func WithSpanEvents(ctx context.Context) context.Context {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return ctx
	}
	return holdfast.WithListener(ctx, Listener(span))
}
