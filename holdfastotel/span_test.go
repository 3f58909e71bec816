package holdfastotel_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/holdfastotel"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

var errBoom = errors.New("boom")

// newTracer returns a tracer whose ended spans sr records.
func newTracer(t *testing.T) (trace.Tracer, *tracetest.SpanRecorder) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp.Tracer("holdfastotel_test"), sr
}

// events formats the events of span as "name key=value ...", attributes
// in the order given.
func events(span sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, e := range span.Events() {
		s := e.Name
		for _, a := range e.Attributes {
			s += fmt.Sprintf(" %s=%s", a.Key, a.Value.String())
		}
		out = append(out, s)
	}
	return out
}

// failTimes returns a call that fails n times, then succeeds.
func failTimes(n int) func(context.Context) error {
	var mu sync.Mutex
	calls := 0
	return func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls <= n {
			return errBoom
		}
		return nil
	}
}

// TestRetryEventsOnCallersSpan runs two calls at once through one retry
// pipeline, each under a span of its own: the one that takes 3 attempts
// shows its attempts and retries, with their delays, in order, and the
// other only its single attempt.
func TestRetryEventsOnCallersSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tracer, sr := newTracer(t)
		p := holdfast.MustNew[int](retry.MustNew(retry.Config{Name: "db", Attempts: 3,
			Backoff: retry.BackoffConfig{Base: 100 * time.Millisecond, Jitter: retry.JitterNone}}))
		calls := map[string]func(context.Context) error{
			"slow":  failTimes(2),
			"quick": failTimes(0),
		}
		var wg sync.WaitGroup
		for name, fn := range calls {
			wg.Go(func() {
				ctx, span := tracer.Start(context.Background(), name)
				defer span.End()
				if err := p.Run(holdfastotel.WithSpanEvents(ctx), fn); err != nil {
					t.Errorf("%s: Run = %v", name, err)
				}
			})
		}
		wg.Wait()

		want := map[string][]string{
			"slow": {
				"holdfast.attempt holdfast.policy=db holdfast.source=retry holdfast.attempt=1",
				"holdfast.retry holdfast.policy=db holdfast.source=retry holdfast.attempt=1 holdfast.delay=0.1 holdfast.error=boom",
				"holdfast.attempt holdfast.policy=db holdfast.source=retry holdfast.attempt=2",
				"holdfast.retry holdfast.policy=db holdfast.source=retry holdfast.attempt=2 holdfast.delay=0.2 holdfast.error=boom",
				"holdfast.attempt holdfast.policy=db holdfast.source=retry holdfast.attempt=3",
			},
			"quick": {
				"holdfast.attempt holdfast.policy=db holdfast.source=retry holdfast.attempt=1",
			},
		}
		got := map[string][]string{}
		for _, s := range sr.Ended() {
			got[s.Name()] = events(s)
			if s.Status().Code != codes.Unset {
				t.Errorf("%s: status %v; want Unset", s.Name(), s.Status())
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("span events (-want +got):\n%s", diff)
		}
		// Each event at the time it happened: the retries 100ms and 200ms
		// apart in the bubble's clock.
		for _, s := range sr.Ended() {
			if s.Name() != "slow" {
				continue
			}
			ev := s.Events()
			if d := ev[2].Time.Sub(ev[1].Time); d != 100*time.Millisecond {
				t.Errorf("attempt 2 came %v after the first retry; want 100ms", d)
			}
			if d := ev[4].Time.Sub(ev[3].Time); d != 200*time.Millisecond {
				t.Errorf("attempt 3 came %v after the second retry; want 200ms", d)
			}
		}
	})
}

// A breaker's refusal and a timeout are events on the span and set no
// status; so is the state change the failing call caused.
func TestRejectionAndTimeoutSetNoStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tracer, sr := newTracer(t)
		b := breaker.MustNew(breaker.Config{Name: "b", ConsecutiveFailures: 1, OpenDuration: 10 * time.Second})
		to := timeout.MustNew(timeout.Config{Name: "t", Timeout: time.Second})
		p := holdfast.MustNew[int](b, to)
		run := func(name string, fn func(context.Context) error) {
			ctx, span := tracer.Start(context.Background(), name)
			defer span.End()
			p.Run(holdfastotel.WithSpanEvents(ctx), fn) // the events are what is checked
		}
		run("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		run("refused", func(context.Context) error { return nil })

		want := map[string][]string{
			"slow": {
				"holdfast.timeout holdfast.policy=t holdfast.source=timeout holdfast.error=timeout: call did not finish within 1s",
				"holdfast.state_change holdfast.policy=b holdfast.source=breaker holdfast.delay=10 holdfast.from=closed holdfast.to=open holdfast.reason=consecutive_failures holdfast.error=timeout: call did not finish within 1s",
			},
			"refused": {
				"holdfast.rejected holdfast.policy=b holdfast.source=breaker holdfast.delay=10 holdfast.reason=breaker_open holdfast.error=" + openErr(t, b),
			},
		}
		got := map[string][]string{}
		for _, s := range sr.Ended() {
			got[s.Name()] = events(s)
			if s.Status().Code != codes.Unset {
				t.Errorf("%s: status %v; want Unset", s.Name(), s.Status())
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("span events (-want +got):\n%s", diff)
		}
	})
}

// openErr returns the message of b's refusal now.
func openErr(t *testing.T, b *breaker.Breaker) string {
	t.Helper()
	_, err := b.Allow()
	if err == nil {
		t.Fatal("breaker admitted a call; want it open")
	}
	return err.Error()
}

func TestAttributes(t *testing.T) {
	tests := []struct {
		name string
		e    holdfast.Event
		want []attribute.KeyValue
	}{
		{"attempt",
			holdfast.Event{Source: holdfast.KindRetry, Policy: "r", Kind: holdfast.EventAttempt, Attempt: 1},
			[]attribute.KeyValue{attribute.String("holdfast.policy", "r"), attribute.String("holdfast.source", "retry"), attribute.Int("holdfast.attempt", 1)}},
		{"retry with no delay keeps the delay",
			holdfast.Event{Source: holdfast.KindRetry, Policy: "r", Kind: holdfast.EventRetry, Attempt: 2, Err: errBoom},
			[]attribute.KeyValue{attribute.String("holdfast.policy", "r"), attribute.String("holdfast.source", "retry"), attribute.Int("holdfast.attempt", 2),
				attribute.Float64("holdfast.delay", 0), attribute.String("holdfast.error", "boom")}},
		{"hedge",
			holdfast.Event{Source: holdfast.KindHedge, Policy: "h", Kind: holdfast.EventHedge, Attempt: 2, Delay: 50 * time.Millisecond},
			[]attribute.KeyValue{attribute.String("holdfast.policy", "h"), attribute.String("holdfast.source", "hedge"), attribute.Int("holdfast.attempt", 2),
				attribute.Float64("holdfast.delay", 0.05)}},
		{"state change",
			holdfast.Event{Source: holdfast.KindBreaker, Policy: "b", Kind: holdfast.EventStateChange, From: "closed", To: "open", Reason: "failure_rate", Delay: 5 * time.Second},
			[]attribute.KeyValue{attribute.String("holdfast.policy", "b"), attribute.String("holdfast.source", "breaker"), attribute.Float64("holdfast.delay", 5),
				attribute.String("holdfast.from", "closed"), attribute.String("holdfast.to", "open"), attribute.String("holdfast.reason", "failure_rate")}},
		{"rejection without a delay",
			holdfast.Event{Source: holdfast.KindBulkhead, Policy: "bh", Kind: holdfast.EventRejected, Reason: holdfast.ReasonOverloaded},
			[]attribute.KeyValue{attribute.String("holdfast.policy", "bh"), attribute.String("holdfast.source", "bulkhead"), attribute.String("holdfast.reason", "overloaded")}},
		{"limit changed to a value",
			holdfast.Event{Source: holdfast.KindBulkhead, Policy: "a", Kind: holdfast.EventLimitChanged, Value: 16},
			[]attribute.KeyValue{attribute.String("holdfast.policy", "a"), attribute.String("holdfast.source", "bulkhead"), attribute.Float64("holdfast.value", 16)}},
		{"vote with no agreement keeps the value",
			holdfast.Event{Source: holdfast.KindVote, Policy: "v", Kind: holdfast.EventVote, Reason: "no_quorum"},
			[]attribute.KeyValue{attribute.String("holdfast.policy", "v"), attribute.String("holdfast.source", "vote"), attribute.String("holdfast.reason", "no_quorum"),
				attribute.Float64("holdfast.value", 0)}},
		{"timeout",
			holdfast.Event{Source: holdfast.KindTimeout, Policy: "t", Kind: holdfast.EventTimeout, Err: errBoom},
			[]attribute.KeyValue{attribute.String("holdfast.policy", "t"), attribute.String("holdfast.source", "timeout"), attribute.String("holdfast.error", "boom")}},
		{"zero event",
			holdfast.Event{},
			[]attribute.KeyValue{attribute.String("holdfast.policy", ""), attribute.String("holdfast.source", "unknown")}},
	}
	for _, tt := range tests {
		got := holdfastotel.Attributes(tt.e)
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b attribute.Value) bool { return a == b })); diff != "" {
			t.Errorf("%s: Attributes (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestEventName(t *testing.T) {
	tests := []struct {
		kind holdfast.EventKind
		want string
	}{
		{holdfast.EventAttempt, "holdfast.attempt"},
		{holdfast.EventRetry, "holdfast.retry"},
		{holdfast.EventStateChange, "holdfast.state_change"},
		{holdfast.EventOverrun, "holdfast.overrun"},
	}
	for _, tt := range tests {
		if got := holdfastotel.EventName(holdfast.Event{Kind: tt.kind}); got != tt.want {
			t.Errorf("EventName(%v) = %q; want %q", tt.kind, got, tt.want)
		}
	}
}

// Without a recording span, WithSpanEvents attaches nothing.
func TestWithSpanEventsWithoutARecordingSpan(t *testing.T) {
	tracer, _ := newTracer(t)
	_, ended := tracer.Start(context.Background(), "ended")
	ended.End()
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})
	tests := []struct {
		name string
		ctx  context.Context
	}{
		{"no span", context.Background()},
		{"remote span context", trace.ContextWithRemoteSpanContext(context.Background(), sc)},
		{"ended span", trace.ContextWithSpan(context.Background(), ended)},
	}
	for _, tt := range tests {
		if got := holdfastotel.WithSpanEvents(tt.ctx); got != tt.ctx {
			t.Errorf("%s: WithSpanEvents returned a new context; want ctx itself", tt.name)
		}
	}
}

// Listener puts the events of every call of a policy on one span, whatever
// the calls' contexts; a nil span is a listener that does nothing.
func TestListenerOnAFixedSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tracer, sr := newTracer(t)
		_, job := tracer.Start(context.Background(), "job")
		r := retry.MustNew(retry.Config{Name: "r", Attempts: 2, Listener: holdfastotel.Listener(job),
			Backoff: retry.BackoffConfig{Base: time.Second, Jitter: retry.JitterNone}})
		r.Execute(context.Background(), failTimes(1)) // the events are what is checked
		job.End()
		r.Execute(context.Background(), failTimes(0)) // after End: dropped
		holdfastotel.Listener(nil).OnEvent(holdfast.Event{Kind: holdfast.EventAttempt})

		want := []string{
			"holdfast.attempt holdfast.policy=r holdfast.source=retry holdfast.attempt=1",
			"holdfast.retry holdfast.policy=r holdfast.source=retry holdfast.attempt=1 holdfast.delay=1 holdfast.error=boom",
			"holdfast.attempt holdfast.policy=r holdfast.source=retry holdfast.attempt=2",
		}
		spans := sr.Ended()
		if len(spans) != 1 {
			t.Fatalf("%d spans ended; want 1", len(spans))
		}
		if diff := cmp.Diff(want, events(spans[0])); diff != "" {
			t.Errorf("span events (-want +got):\n%s", diff)
		}
	})
}
