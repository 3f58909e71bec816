package proxy

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTracingSynctest: with a Tracer, a request is a server span that
// continues the client's traceparent, each attempt is a client span under
// it with its endpoint, number, outcome and breaker state, and the
// upstream receives the attempt's span as its parent; the client's
// traceparent never reaches the upstream as it came.
func TestTracingSynctest(t *testing.T) {
	const clientParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	synctest.Test(t, func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		var mu sync.Mutex
		var seen []string // traceparent headers the backend received
		steps := script(step{status: 503}, step{status: 200, body: []byte("ok")})
		m := newMemProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: http://a}]
		outlier_detection: {disabled: true}
		circuit_breaker: {failure_rate: 0.9, minimum_requests: 100}
routes:
	- name: r
		upstream: u
		retry: {attempts: 3, backoff: {base: 100ms, jitter: none}}
`), map[string]memHandler{"a": func(b *memBackend, w http.ResponseWriter, r *http.Request, n int) {
			mu.Lock()
			seen = append(seen, r.Header.Get("Traceparent"))
			mu.Unlock()
			steps(b, w, r, n)
		}}, func(o *Options) { o.Tracer = tp.Tracer("holdfast") })

		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Traceparent", clientParent)
		if res := m.doWith(r); res.status != 200 {
			t.Fatalf("got status %d; want 200", res.status)
		}
		spans := rec.Ended()
		if len(spans) != 3 {
			t.Fatalf("got %d spans; want 3 (the request, two attempts)", len(spans))
		}
		server := spans[len(spans)-1] // ends last
		if server.SpanKind() != trace.SpanKindServer || server.Name() != "GET r" {
			t.Errorf("request span: kind %v name %q; want server, \"GET r\"", server.SpanKind(), server.Name())
		}
		if got := server.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("request span in trace %s; want the client's", got)
		}
		if got := server.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
			t.Errorf("request span's parent %s; want the client's span", got)
		}
		wantAttr(t, server, "http.response.status_code", attribute.IntValue(200))
		wantAttr(t, server, "holdfast.attempts", attribute.IntValue(2))
		wantAttr(t, server, "holdfast.route", attribute.StringValue("r"))
		for i, s := range spans[:2] {
			n := i + 1
			if s.SpanKind() != trace.SpanKindClient || s.Parent().SpanID() != server.SpanContext().SpanID() {
				t.Errorf("attempt %d: kind %v parent %s; want a client span under the request's", n, s.SpanKind(), s.Parent().SpanID())
			}
			wantAttr(t, s, "holdfast.attempt", attribute.IntValue(n))
			wantAttr(t, s, "holdfast.endpoint", attribute.StringValue("a:80"))
			wantAttr(t, s, "holdfast.outcome", attribute.StringValue(AttemptResponse))
			wantAttr(t, s, "holdfast.breaker_state", attribute.StringValue("closed"))
			wantAttr(t, s, "holdfast.hedge", attribute.BoolValue(false))
		}
		wantAttr(t, spans[0], "http.response.status_code", attribute.IntValue(503))
		if spans[0].Status().Code != codes.Error || spans[1].Status().Code == codes.Error {
			t.Errorf("attempt statuses %v, %v; want the 503 an error, the 200 not", spans[0].Status(), spans[1].Status())
		}
		wantAttr(t, spans[1], "http.request.resend_count", attribute.IntValue(1))
		// The upstream saw each attempt's own span as its parent.
		var want []string
		for _, s := range spans[:2] {
			want = append(want, "00-"+s.SpanContext().TraceID().String()+"-"+s.SpanContext().SpanID().String()+"-01")
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(seen, want) {
			t.Errorf("the upstream got traceparent %q; want %q", seen, want)
		}
	})
}

// TestTracingLocalReply: a request the proxy answers itself, here with the
// breaker open, is an error span with the reason, and the refused attempt
// is an event on it, not a span.
func TestTracingLocalReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		m := newMemProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: http://a}]
		outlier_detection: {disabled: true}
		circuit_breaker: {consecutive_failures: 1, open_duration: 1m}
routes:
	- name: r
		upstream: u
		retry: {attempts: 1}
`), map[string]memHandler{"a": script(step{status: 503}, step{status: 200})}, func(o *Options) { o.Tracer = tp.Tracer("holdfast") })
		m.do("GET", "/x", nil)        // opens the breaker
		res := m.do("GET", "/x", nil) // refused
		if res.status != http.StatusServiceUnavailable {
			t.Fatalf("got status %d; want 503 from the open breaker", res.status)
		}
		spans := rec.Ended()
		last := spans[len(spans)-1]
		if last.SpanKind() != trace.SpanKindServer || last.Status().Code != codes.Error {
			t.Fatalf("last span: kind %v status %v; want an error server span", last.SpanKind(), last.Status())
		}
		wantAttr(t, last, "holdfast.reason", attribute.StringValue(ReasonBreakerOpen))
		wantAttr(t, last, "holdfast.attempts", attribute.IntValue(0))
		var events []string
		for _, e := range last.Events() {
			events = append(events, e.Name)
		}
		if !slices.Contains(events, "holdfast.attempt_refused") {
			t.Errorf("request span events %q; want holdfast.attempt_refused", events)
		}
	})
}

func wantAttr(t *testing.T, s sdktrace.ReadOnlySpan, key string, want attribute.Value) {
	t.Helper()
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			if a.Value != want {
				t.Errorf("span %q: %s = %v; want %v", s.Name(), key, a.Value.String(), want.String())
			}
			return
		}
	}
	t.Errorf("span %q has no %s; want %v", s.Name(), key, want.String())
}
