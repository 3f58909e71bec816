package proxy

import (
	"context"
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdfast-dev/holdfast/upstream"
)

// Tracing, when [Options].Tracer is set: every request is a server span,
// continuing the client's W3C trace context (traceparent, tracestate) when
// it sent one, and every attempt sent upstream (a retry's, a hedge's) is a
// client span under it, whose context the upstream receives in its own
// traceparent. Attempts the proxy refused itself (breaker open,
// concurrency limit) are events on the request's span, not spans: nothing
// was sent. Span attributes follow OpenTelemetry's HTTP conventions where
// one applies, and holdfast.* names for the rest.

// propagator reads and writes W3C trace context headers.
var propagator = propagation.TraceContext{}

// startRequestSpan starts r's server span, continuing the client's trace
// context. It returns r with the span in its context.
func (p *Proxy) startRequestSpan(r *http.Request) (*http.Request, trace.Span) {
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", sanitizePath(r.URL.Path)),
		attribute.String("network.protocol.version", protoVersion(r)),
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, attribute.String("client.address", host))
	}
	ctx, span := p.opts.Tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return r.WithContext(ctx), span
}

// endRequestSpan ends a request's span with what the request came to.
func endRequestSpan(span trace.Span, info *RequestInfo) {
	if info.Route != "" {
		span.SetName(info.Method + " " + info.Route)
	}
	attrs := []attribute.KeyValue{
		attribute.Int("http.response.status_code", info.Status),
		attribute.String("holdfast.route", info.Route),
		attribute.Int("holdfast.attempts", info.Attempts),
		attribute.Int("holdfast.retries", info.Retries),
		attribute.Int("holdfast.hedges", info.Hedges),
	}
	if info.Upstream != "" {
		attrs = append(attrs, attribute.String("holdfast.upstream", info.Upstream))
	}
	if info.Endpoint != "" {
		attrs = append(attrs, attribute.String("holdfast.endpoint", info.Endpoint))
	}
	if info.Reason != "" {
		attrs = append(attrs, attribute.String("holdfast.reason", info.Reason))
	}
	if info.Fallback {
		attrs = append(attrs, attribute.Bool("holdfast.fallback", true))
	}
	span.SetAttributes(attrs...)
	// A server span is an error for a 5xx only (OpenTelemetry's HTTP
	// conventions): a 4xx is the client's.
	if info.Status >= 500 || info.Status == 0 {
		desc := info.Reason
		if desc == "" {
			desc = strconv.Itoa(info.Status)
		}
		span.SetStatus(codes.Error, desc)
	}
	span.End()
}

// startAttemptSpan starts the client span of attempt n to ep, hedged or
// not, and returns ctx with it.
func (p *Proxy) startAttemptSpan(ctx context.Context, x *exchange, ep *upstream.Endpoint, n int, hedge bool) (context.Context, trace.Span) {
	addr := ep.Address()
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", x.r.Method),
		attribute.String("server.address", addr.Hostname()),
		attribute.String("holdfast.upstream", x.cl.name),
		attribute.String("holdfast.endpoint", addr.Host),
		attribute.Int("holdfast.attempt", n),
		attribute.Bool("holdfast.hedge", hedge),
	}
	if port, err := strconv.Atoi(addr.Port()); err == nil {
		attrs = append(attrs, attribute.Int("server.port", port))
	}
	if n > 1 {
		attrs = append(attrs, attribute.Int("http.request.resend_count", n-1))
	}
	if x.cl.breaker != nil {
		attrs = append(attrs, attribute.String("holdfast.breaker_state", x.cl.breaker.State().String()))
	}
	return p.opts.Tracer.Start(ctx, x.r.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endAttemptSpan ends an attempt's span with its outcome.
func endAttemptSpan(span trace.Span, outcome string, status int, err error) {
	span.SetAttributes(attribute.String("holdfast.outcome", outcome))
	if status > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	switch {
	case outcome != AttemptResponse:
		desc := outcome
		if err != nil {
			desc += ": " + err.Error()
		}
		span.SetStatus(codes.Error, desc)
	case status >= 400:
		// A client span is an error for any 4xx or 5xx.
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	span.End()
}

// refusedAttempt records on the request's span an attempt the proxy did
// not send.
func refusedAttempt(ctx context.Context, reason string) {
	trace.SpanFromContext(ctx).AddEvent("holdfast.attempt_refused", trace.WithAttributes(attribute.String("holdfast.reason", reason)))
}

func protoVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "2"
	case 3:
		return "3"
	}
	return "1." + strconv.Itoa(r.ProtoMinor)
}
