// Package otlp exports OpenTelemetry spans over OTLP/HTTP with the JSON
// encoding (the OTLP specification's "OTLP/HTTP", Content-Type
// application/json), which every OTLP receiver accepts: the OpenTelemetry
// Collector, Jaeger, Tempo and the vendors' endpoints.
//
// It exists so that holdfast can send traces without the protobuf and gRPC
// modules that the OpenTelemetry project's own OTLP exporters pull in; it
// implements the SDK's [sdktrace.SpanExporter] and is used under a
// [sdktrace.BatchSpanProcessor], which bounds the queue and batches.
package otlp

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Exporter sends spans to one OTLP/HTTP receiver. Create it with [New].
type Exporter struct {
	url     string
	client  *http.Client
	timeout time.Duration

	mu      sync.Mutex
	stopped bool
}

// New returns an exporter to endpoint, the receiver's base URL (such as
// http://127.0.0.1:4318): spans go to its /v1/traces, unless endpoint names
// a path of its own, which is then used as it is. Each export is bounded by
// timeout.
func New(endpoint string, timeout time.Duration) (*Exporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, errors.New("otlp: endpoint must be a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("otlp: endpoint must be an http:// or https:// URL, got %q", u.Redacted())
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return &Exporter{
		url:     u.String(),
		client:  &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}},
		timeout: timeout,
	}, nil
}

// maxReplyBytes bounds what is read of a receiver's reply.
const maxReplyBytes = 64 << 10

// ExportSpans sends spans in one request. A receiver that refuses them
// (any status but 2xx) or cannot be reached is an error; the SDK's batch
// processor drops that batch, as the OTLP exporters do once their retries
// are spent.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	stopped := e.stopped
	e.mu.Unlock()
	if stopped || len(spans) == 0 {
		return nil
	}
	body, err := json.Marshal(encode(spans))
	if err != nil {
		return fmt.Errorf("otlp: encoding spans: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("otlp: sending spans: %w", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp: the receiver answered %s: %.200q", resp.Status, reply)
	}
	return nil
}

// Shutdown stops exporting and closes idle connections.
func (e *Exporter) Shutdown(context.Context) error {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	e.client.CloseIdleConnections()
	return nil
}

// The OTLP JSON encoding: protobuf's JSON mapping with lowerCamelCase
// names, trace and span ids as hex (not base64), enums as numbers and
// 64-bit integers as decimal strings.

type exportRequest struct {
	ResourceSpans []resourceSpans `json:"resourceSpans"`
}

type resourceSpans struct {
	Resource   otlpResource `json:"resource"`
	ScopeSpans []scopeSpans `json:"scopeSpans"`
	SchemaURL  string       `json:"schemaUrl,omitempty"`
}

type otlpResource struct {
	Attributes []keyValue `json:"attributes"`
}

type scopeSpans struct {
	Scope scope  `json:"scope"`
	Spans []span `json:"spans"`
}

type scope struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

type span struct {
	TraceID           string     `json:"traceId"`
	SpanID            string     `json:"spanId"`
	TraceState        string     `json:"traceState,omitempty"`
	ParentSpanID      string     `json:"parentSpanId,omitempty"`
	Flags             uint32     `json:"flags,omitempty"`
	Name              string     `json:"name"`
	Kind              int        `json:"kind"`
	StartTimeUnixNano string     `json:"startTimeUnixNano"`
	EndTimeUnixNano   string     `json:"endTimeUnixNano"`
	Attributes        []keyValue `json:"attributes,omitempty"`
	Events            []event    `json:"events,omitempty"`
	Links             []link     `json:"links,omitempty"`
	Status            *status    `json:"status,omitempty"`
	DroppedAttributes int        `json:"droppedAttributesCount,omitempty"`
	DroppedEvents     int        `json:"droppedEventsCount,omitempty"`
}

type event struct {
	TimeUnixNano string     `json:"timeUnixNano"`
	Name         string     `json:"name"`
	Attributes   []keyValue `json:"attributes,omitempty"`
}

type link struct {
	TraceID    string     `json:"traceId"`
	SpanID     string     `json:"spanId"`
	TraceState string     `json:"traceState,omitempty"`
	Attributes []keyValue `json:"attributes,omitempty"`
}

type status struct {
	Message string `json:"message,omitempty"`
	Code    int    `json:"code"`
}

type keyValue struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

type anyValue struct {
	StringValue *string     `json:"stringValue,omitempty"`
	BoolValue   *bool       `json:"boolValue,omitempty"`
	IntValue    *string     `json:"intValue,omitempty"`
	DoubleValue *float64    `json:"doubleValue,omitempty"`
	ArrayValue  *arrayValue `json:"arrayValue,omitempty"`
}

type arrayValue struct {
	Values []anyValue `json:"values"`
}

// encode groups spans by resource and instrumentation scope, as OTLP
// nests them.
func encode(spans []sdktrace.ReadOnlySpan) exportRequest {
	type scopeKey struct{ name, version string }
	var req exportRequest
	resIndex := map[string]int{}
	scopeIndex := map[string]map[scopeKey]int{}
	for _, s := range spans {
		res := s.Resource()
		rk := res.Encoded(attribute.DefaultEncoder())
		ri, ok := resIndex[rk]
		if !ok {
			ri = len(req.ResourceSpans)
			resIndex[rk] = ri
			scopeIndex[rk] = map[scopeKey]int{}
			req.ResourceSpans = append(req.ResourceSpans, resourceSpans{
				Resource:  otlpResource{Attributes: keyValues(res.Attributes())},
				SchemaURL: res.SchemaURL(),
			})
		}
		is := s.InstrumentationScope()
		sk := scopeKey{is.Name, is.Version}
		rs := &req.ResourceSpans[ri]
		si, ok := scopeIndex[rk][sk]
		if !ok {
			si = len(rs.ScopeSpans)
			scopeIndex[rk][sk] = si
			rs.ScopeSpans = append(rs.ScopeSpans, scopeSpans{Scope: scope{Name: is.Name, Version: is.Version}})
		}
		rs.ScopeSpans[si].Spans = append(rs.ScopeSpans[si].Spans, encodeSpan(s))
	}
	return req
}

func encodeSpan(s sdktrace.ReadOnlySpan) span {
	sc := s.SpanContext()
	out := span{
		TraceID:           hexID(sc.TraceID()),
		SpanID:            hexSpanID(sc.SpanID()),
		TraceState:        sc.TraceState().String(),
		Flags:             uint32(sc.TraceFlags()),
		Name:              s.Name(),
		Kind:              spanKind(s.SpanKind()),
		StartTimeUnixNano: unixNano(s.StartTime()),
		EndTimeUnixNano:   unixNano(s.EndTime()),
		Attributes:        keyValues(s.Attributes()),
		DroppedAttributes: s.DroppedAttributes(),
		DroppedEvents:     s.DroppedEvents(),
	}
	if p := s.Parent(); p.SpanID().IsValid() {
		out.ParentSpanID = hexSpanID(p.SpanID())
	}
	for _, e := range s.Events() {
		out.Events = append(out.Events, event{TimeUnixNano: unixNano(e.Time), Name: e.Name, Attributes: keyValues(e.Attributes)})
	}
	for _, l := range s.Links() {
		out.Links = append(out.Links, link{
			TraceID: hexID(l.SpanContext.TraceID()), SpanID: hexSpanID(l.SpanContext.SpanID()),
			TraceState: l.SpanContext.TraceState().String(), Attributes: keyValues(l.Attributes),
		})
	}
	switch st := s.Status(); st.Code {
	case codes.Error:
		out.Status = &status{Code: 2, Message: st.Description}
	case codes.Ok:
		out.Status = &status{Code: 1}
	}
	return out
}

func hexID(id trace.TraceID) string    { return hex.EncodeToString(id[:]) }
func hexSpanID(id trace.SpanID) string { return hex.EncodeToString(id[:]) }

func unixNano(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// spanKind maps the API's kinds to OTLP's SpanKind enum.
func spanKind(k trace.SpanKind) int {
	switch k {
	case trace.SpanKindInternal:
		return 1
	case trace.SpanKindServer:
		return 2
	case trace.SpanKindClient:
		return 3
	case trace.SpanKindProducer:
		return 4
	case trace.SpanKindConsumer:
		return 5
	}
	return 0
}

func keyValues(attrs []attribute.KeyValue) []keyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]keyValue, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, keyValue{Key: string(a.Key), Value: value(a.Value)})
	}
	return out
}

func value(v attribute.Value) anyValue {
	switch v.Type() {
	case attribute.BOOL:
		b := v.AsBool()
		return anyValue{BoolValue: &b}
	case attribute.INT64:
		s := strconv.FormatInt(v.AsInt64(), 10)
		return anyValue{IntValue: &s}
	case attribute.FLOAT64:
		f := v.AsFloat64()
		return anyValue{DoubleValue: &f}
	case attribute.BOOLSLICE:
		var vs []anyValue
		for _, b := range v.AsBoolSlice() {
			vs = append(vs, value(attribute.BoolValue(b)))
		}
		return anyValue{ArrayValue: &arrayValue{Values: vs}}
	case attribute.INT64SLICE:
		var vs []anyValue
		for _, i := range v.AsInt64Slice() {
			vs = append(vs, value(attribute.Int64Value(i)))
		}
		return anyValue{ArrayValue: &arrayValue{Values: vs}}
	case attribute.FLOAT64SLICE:
		var vs []anyValue
		for _, f := range v.AsFloat64Slice() {
			vs = append(vs, value(attribute.Float64Value(f)))
		}
		return anyValue{ArrayValue: &arrayValue{Values: vs}}
	case attribute.STRINGSLICE:
		var vs []anyValue
		for _, s := range v.AsStringSlice() {
			vs = append(vs, value(attribute.StringValue(s)))
		}
		return anyValue{ArrayValue: &arrayValue{Values: vs}}
	}
	s := v.String()
	return anyValue{StringValue: &s}
}
