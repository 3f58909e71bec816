package otlp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestExportSpans: spans reach the receiver's /v1/traces as OTLP JSON:
// ids in hex, kinds and status codes as OTLP's enum numbers, times and
// 64-bit integers as decimal strings, grouped under their resource.
func TestExportSpans(t *testing.T) {
	var got struct {
		path, contentType string
		body              []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.contentType = r.URL.Path, r.Header.Get("Content-Type")
		got.body, _ = io.ReadAll(r.Body)
		w.Write([]byte("{}"))
	}))
	defer srv.Close()

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "holdfast"))))
	tr := tp.Tracer("holdfast", trace.WithInstrumentationVersion("v1"))
	start := time.Unix(1700000000, 5)
	ctx, parent := tr.Start(context.Background(), "GET r", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	_, child := tr.Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start),
		trace.WithAttributes(attribute.Int("holdfast.attempt", 2), attribute.Bool("holdfast.hedge", true),
			attribute.Float64("x.f", 0.5), attribute.StringSlice("x.s", []string{"a", "b"})))
	child.AddEvent("holdfast.retry", trace.WithTimestamp(start.Add(time.Second)))
	child.SetStatus(codes.Error, "reset")
	child.End(trace.WithTimestamp(start.Add(2 * time.Second)))
	parent.End(trace.WithTimestamp(start.Add(3 * time.Second)))

	e, err := New(srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ExportSpans(context.Background(), rec.Ended()); err != nil {
		t.Fatal(err)
	}
	if got.path != "/v1/traces" || got.contentType != "application/json" {
		t.Errorf("POST %s (%s); want /v1/traces (application/json)", got.path, got.contentType)
	}
	var req map[string]any
	if err := json.Unmarshal(got.body, &req); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	rs := req["resourceSpans"].([]any)[0].(map[string]any)
	if attrs := rs["resource"].(map[string]any)["attributes"].([]any); len(attrs) != 1 ||
		attrs[0].(map[string]any)["key"] != "service.name" {
		t.Errorf("resource attributes %v; want service.name", attrs)
	}
	ss := rs["scopeSpans"].([]any)[0].(map[string]any)
	if sc := ss["scope"].(map[string]any); sc["name"] != "holdfast" || sc["version"] != "v1" {
		t.Errorf("scope %v; want holdfast v1", sc)
	}
	spans := ss["spans"].([]any)
	if len(spans) != 2 {
		t.Fatalf("got %d spans; want 2", len(spans))
	}
	c := spans[0].(map[string]any)
	p := spans[1].(map[string]any)
	pc := parent.SpanContext()
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"traceId", c["traceId"], pc.TraceID().String()},
		{"parentSpanId", c["parentSpanId"], pc.SpanID().String()},
		{"spanId", p["spanId"], pc.SpanID().String()},
		{"client kind", c["kind"], 3.0},
		{"server kind", p["kind"], 2.0},
		{"start", c["startTimeUnixNano"], "1700000000000000005"},
		{"end", c["endTimeUnixNano"], "1700000002000000005"},
		{"status", c["status"], map[string]any{"code": 2.0, "message": "reset"}},
		{"event", c["events"].([]any)[0].(map[string]any)["timeUnixNano"], "1700000001000000005"},
	}
	for _, ck := range checks {
		if !equalJSON(ck.got, ck.want) {
			t.Errorf("%s = %v; want %v", ck.name, ck.got, ck.want)
		}
	}
	attrs := map[string]any{}
	for _, a := range c["attributes"].([]any) {
		kv := a.(map[string]any)
		attrs[kv["key"].(string)] = kv["value"]
	}
	wantAttrs := map[string]any{
		"holdfast.attempt": map[string]any{"intValue": "2"},
		"holdfast.hedge":   map[string]any{"boolValue": true},
		"x.f":              map[string]any{"doubleValue": 0.5},
		"x.s":              map[string]any{"arrayValue": map[string]any{"values": []any{map[string]any{"stringValue": "a"}, map[string]any{"stringValue": "b"}}}},
	}
	for k, want := range wantAttrs {
		if !equalJSON(attrs[k], want) {
			t.Errorf("attribute %s = %v; want %v", k, attrs[k], want)
		}
	}
}

// TestExportRefused: a receiver's refusal is an error naming its status.
func TestExportRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad payload", http.StatusBadRequest)
	}))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, s := tp.Tracer("t").Start(context.Background(), "x")
	s.End()
	e, _ := New(srv.URL+"/custom", time.Second)
	err := e.ExportSpans(context.Background(), rec.Ended())
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("got %v; want an error naming 400", err)
	}
}

func TestNewRejectsBadEndpoints(t *testing.T) {
	for _, ep := range []string{"", "collector:4318", "grpc://collector:4317", "http://"} {
		if _, err := New(ep, time.Second); err == nil {
			t.Errorf("New(%q) accepted it; want an error", ep)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
