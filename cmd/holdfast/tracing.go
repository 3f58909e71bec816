package main

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/otlp"
)

// exportTimeout bounds one OTLP export.
const exportTimeout = 10 * time.Second

// startTracing builds the tracer the config asks for: nil when tracing is
// off. Spans are batched (at most 2,048 queued, the SDK's default; more are
// dropped, never waited for) and sent to the OTLP/HTTP receiver every
// second. stop flushes what is queued and stops.
func startTracing(c config.Tracing) (tracer trace.Tracer, stop func(context.Context) error, err error) {
	if !c.Enabled() {
		return nil, func(context.Context) error { return nil }, nil
	}
	exp, err := otlp.New(c.OTLPEndpoint, exportTimeout)
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.Ratio()))),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", c.ServiceName),
			attribute.String("service.version", buildVersion()),
		)),
	)
	return tp.Tracer("github.com/holdfast-dev/holdfast/proxy", trace.WithInstrumentationVersion(buildVersion())), tp.Shutdown, nil
}
