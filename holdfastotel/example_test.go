package holdfastotel_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/holdfastotel"
	"github.com/holdfast-dev/holdfast/retry"
)

// A call that fails twice and then answers, through a retry pipeline: the
// caller's span shows each attempt and each retry with its backoff.
func ExampleWithSpanEvents() {
	// A tracer that keeps its spans in memory; a service would export them.
	spans := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("example")

	p := holdfast.MustNew[string](retry.MustNew(retry.Config{Name: "catalog", Attempts: 3,
		Backoff: retry.BackoffConfig{Base: time.Millisecond, Jitter: retry.JitterNone}}))
	failures := 2
	fetch := func(context.Context) (string, error) {
		if failures > 0 {
			failures--
			return "", errors.New("connection refused")
		}
		return "item 42", nil
	}

	ctx, span := tracer.Start(context.Background(), "GetItem")
	item, err := p.Get(holdfastotel.WithSpanEvents(ctx), fetch)
	span.End()
	fmt.Println(item, err)

	for _, e := range spans.Ended()[0].Events() {
		fmt.Print(e.Name)
		for _, a := range e.Attributes {
			switch a.Key {
			case holdfastotel.AttrAttempt, holdfastotel.AttrDelay, holdfastotel.AttrError:
				fmt.Printf(" %s=%s", a.Key, a.Value.String())
			}
		}
		fmt.Println()
	}
	// Output:
	// item 42 <nil>
	// holdfast.attempt holdfast.attempt=1
	// holdfast.retry holdfast.attempt=1 holdfast.delay=0.001 holdfast.error=connection refused
	// holdfast.attempt holdfast.attempt=2
	// holdfast.retry holdfast.attempt=2 holdfast.delay=0.002 holdfast.error=connection refused
	// holdfast.attempt holdfast.attempt=3
}
