// Package holdfastotel turns the events of holdfast policies into
// OpenTelemetry span events, so that a trace shows what the policies did
// inside a call: each attempt, each retry and the backoff before it, a
// hedge, a breaker's refusal or the state change a call caused, a timeout,
// a fallback, a wait in a queue.
//
// The model: policies report [holdfast.Event]s to listeners, and
// [holdfast.WithListener] attaches a listener to a call's context.
// [WithSpanEvents] attaches one that adds every event of the calls made
// under the returned context to the span that context carries (the
// caller's span, found with trace.SpanFromContext when WithSpanEvents is
// called):
//
//	ctx, span := tracer.Start(ctx, "GetItem")
//	defer span.End()
//	item, err := pipeline.Get(holdfastotel.WithSpanEvents(ctx), fetchItem)
//
// For a fixed span, such as a long-lived one for a background job, give
// [Listener] to a policy's Config.Listener or to holdfast.WithListener.
//
// Each event becomes a span event named "holdfast." followed by its kind
// ("holdfast.attempt", "holdfast.retry", "holdfast.state_change", ...; see
// [holdfast.EventKind]), with the attributes that apply to it (see
// [Attributes]): holdfast.policy, holdfast.source, holdfast.attempt,
// holdfast.delay (in seconds, a float64, as OpenTelemetry's semantic
// conventions give durations: 0.02 is 20ms), holdfast.from, holdfast.to,
// holdfast.reason, holdfast.value and holdfast.error (the error's
// message; not exception.message, which belongs to "exception" events).
//
// The package never sets a span's status: a rejection or a timeout is an
// event on the span, and whether the call failed is for the caller to say
// from the error the call returned (span.SetStatus, span.RecordError).
//
// Events are added as they happen, from the goroutine that emits them.
// Some come after the call returned, such as a timeout's overrun or the
// events of an abandoned hedge attempt; if the span has ended by then,
// OpenTelemetry drops them. A span that is not recording (no span in the
// context, or one not sampled) costs nothing: WithSpanEvents returns the
// context unchanged.
//
// The package depends on OpenTelemetry's trace API only, not on its SDK
// or any exporter, and holdfast's policy packages do not depend on it.
package holdfastotel
