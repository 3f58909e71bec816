package holdfastprom_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/holdfastprom"
	"github.com/holdfast-dev/holdfast/retry"
)

// A pipeline's retry and breaker report to the metrics, which export them
// under the proxy's names; Add made every series exist at 0 first, so the
// first failures show as an increase.
func Example() {
	reg := prometheus.NewRegistry()
	m := holdfastprom.MustNew(holdfastprom.Config{Registerer: reg})

	r := retry.MustNew(retry.Config{
		Name: "db", Attempts: 3, Listener: m,
		Backoff: retry.BackoffConfig{Base: time.Millisecond, Jitter: "none"},
	})
	cb := breaker.MustNew(breaker.Config{Name: "db", ConsecutiveFailures: 2, Listener: m})
	p := holdfast.MustNew[struct{}](r, cb)
	m.Add(p.Policies()...)

	err := p.Run(context.Background(), func(context.Context) error { return errors.New("down") })
	fmt.Println(errors.Is(err, breaker.ErrOpen))

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.Contains(line, "retries") || strings.Contains(line, "transitions") {
			fmt.Print(line)
		}
	}
	// Output:
	// true
	// # HELP holdfast_upstream_breaker_transitions_total Circuit breaker state changes.
	// # TYPE holdfast_upstream_breaker_transitions_total counter
	// holdfast_upstream_breaker_transitions_total{from="closed",to="half_open",upstream="db"} 0
	// holdfast_upstream_breaker_transitions_total{from="closed",to="open",upstream="db"} 1
	// holdfast_upstream_breaker_transitions_total{from="half_open",to="closed",upstream="db"} 0
	// holdfast_upstream_breaker_transitions_total{from="half_open",to="open",upstream="db"} 0
	// holdfast_upstream_breaker_transitions_total{from="open",to="closed",upstream="db"} 0
	// holdfast_upstream_breaker_transitions_total{from="open",to="half_open",upstream="db"} 0
	// # HELP holdfast_upstream_retries_total Retries decided after a failed attempt or round, by the upstream (retry policy) retried.
	// # TYPE holdfast_upstream_retries_total counter
	// holdfast_upstream_retries_total{upstream="db"} 2
}
