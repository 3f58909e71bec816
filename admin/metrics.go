package admin

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/proxy"
)

// UnmatchedRoute is the route label of requests that no route matched.
const UnmatchedRoute = "_unmatched"

// durationBuckets spans a fast local reply to a long route timeout.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// queueBuckets spans a queue wait, which queue_timeout bounds.
var queueBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// Metrics turns a proxy's finished requests ([Metrics.OnRequest]) and policy
// events ([Metrics.OnEvent]) into Prometheus metrics, and reads gauges from
// the watched proxy's [proxy.Status] when scraped. It also keeps each route's
// recent traffic for the status page ([Metrics.Traffic]).
//
// Metrics registers on its own registry, never the global one. Every label
// value comes from the config (route, upstream and endpoint names) or from a
// fixed set (status class, reason, breaker state), so the number of series is
// bounded by the config: no raw paths, no rate-limit keys.
//
// Create it with [NewMetrics]; the zero value is not usable. It is safe for
// concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	proxy   atomic.Pointer[proxy.Proxy]
	traffic *trafficWindows

	// Per route, from RequestInfo.
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	localReplies *prometheus.CounterVec
	fallbacks    *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec

	// Per upstream, from RequestInfo.
	attempts *prometheus.CounterVec
	retries  *prometheus.CounterVec
	hedges   *prometheus.CounterVec

	// From events.
	budgetExhausted      *prometheus.CounterVec
	hedgeBudgetExhausted *prometheus.CounterVec
	rejections           *prometheus.CounterVec
	breakerTransitions   *prometheus.CounterVec
	endpointChanges      *prometheus.CounterVec
	queueWait            *prometheus.HistogramVec
}

// NewMetrics returns metrics on a fresh registry that also holds the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), traffic: newTrafficWindows()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m.requests = counter("holdfast_route_requests_total",
		"Requests answered by a route, by status class (1xx to 5xx).", "route", "code_class")
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "holdfast_route_request_duration_seconds",
		Help:    "Time from receiving a request to its answer's headers and body being handed on, retries included.",
		Buckets: durationBuckets,
	}, []string{"route"})
	m.localReplies = counter("holdfast_route_local_replies_total",
		"Requests holdfast answered itself instead of relaying an upstream's answer, by reason.", "route", "reason")
	m.fallbacks = counter("holdfast_route_fallbacks_total",
		"Requests answered by the route's fallback, by the failure it replaced.", "route", "reason")
	m.rateLimited = counter("holdfast_route_rate_limited_total",
		"Requests refused by the route's rate limit.", "route")
	m.attempts = counter("holdfast_upstream_attempts_total",
		"Attempts sent to an upstream's endpoints, retries and hedges included.", "upstream")
	m.retries = counter("holdfast_upstream_retries_total",
		"Retry rounds after a request's first, by the upstream retried.", "upstream")
	m.hedges = counter("holdfast_upstream_hedges_total",
		"Hedged attempts started beyond the first of a round.", "upstream")
	m.budgetExhausted = counter("holdfast_upstream_retry_budget_exhausted_total",
		"Retries not made because the upstream's retry budget was spent.", "upstream")
	m.hedgeBudgetExhausted = counter("holdfast_route_hedge_budget_exhausted_total",
		"Hedges not started because the route's hedge budget was spent.", "route")
	m.rejections = counter("holdfast_upstream_rejections_total",
		"Attempts refused before reaching an endpoint: breaker_open, overloaded or queue_timeout.", "upstream", "reason")
	m.breakerTransitions = counter("holdfast_upstream_breaker_transitions_total",
		"Circuit breaker state changes.", "upstream", "from", "to")
	m.endpointChanges = counter("holdfast_upstream_endpoint_changes_total",
		"Endpoint health, ejection and panic-mode changes, by the state entered.", "upstream", "to")
	m.queueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "holdfast_upstream_queue_wait_seconds",
		Help:    "Time attempts waited in the upstream's concurrency queue before getting a slot.",
		Buckets: queueBuckets,
	}, []string{"upstream"})

	m.reg.MustRegister(
		m.requests, m.duration, m.localReplies, m.fallbacks, m.rateLimited,
		m.attempts, m.retries, m.hedges,
		m.budgetExhausted, m.hedgeBudgetExhausted, m.rejections, m.breakerTransitions, m.endpointChanges, m.queueWait,
		&statusCollector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry the metrics are on, for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Watch makes the gauges (breaker state, endpoint health and ejection,
// in-flight, limits, panic mode) follow p. Before Watch, or with nil, they
// are absent.
func (m *Metrics) Watch(p *proxy.Proxy) { m.proxy.Store(p) }

// OnRequest records one finished request; give it to
// [proxy.Options].OnRequest.
func (m *Metrics) OnRequest(info proxy.RequestInfo) {
	m.onRequestAt(info, time.Now())
}

func (m *Metrics) onRequestAt(info proxy.RequestInfo, now time.Time) {
	route := info.Route
	if route == "" {
		route = UnmatchedRoute
	}
	m.requests.WithLabelValues(route, codeClass(info.Status)).Inc()
	m.duration.WithLabelValues(route).Observe(info.Duration.Seconds())
	switch {
	case info.Fallback:
		m.fallbacks.WithLabelValues(route, info.Reason).Inc()
	case info.Reason != "":
		m.localReplies.WithLabelValues(route, info.Reason).Inc()
	}
	if info.Reason == proxy.ReasonRateLimited {
		m.rateLimited.WithLabelValues(route).Inc()
	}
	if info.Upstream != "" {
		if info.Attempts > 0 {
			m.attempts.WithLabelValues(info.Upstream).Add(float64(info.Attempts))
		}
		if info.Retries > 0 {
			m.retries.WithLabelValues(info.Upstream).Add(float64(info.Retries))
		}
		if info.Hedges > 0 {
			m.hedges.WithLabelValues(info.Upstream).Add(float64(info.Hedges))
		}
	}
	m.traffic.record(route, info.Status, info.Duration, now)
}

// OnEvent records a policy event; give it to [proxy.Options].Listener.
// Events name their route (retry, hedge, rate limit) or upstream (breaker,
// concurrency limit, endpoints) in Policy; which one is told by the kind of
// event, so a route and an upstream may share a name.
func (m *Metrics) OnEvent(e holdfast.Event) {
	switch e.Kind {
	case holdfast.EventStateChange:
		switch e.Source {
		case holdfast.KindBreaker:
			m.breakerTransitions.WithLabelValues(e.Policy, e.From, e.To).Inc()
		case holdfast.KindUpstream:
			m.endpointChanges.WithLabelValues(e.Policy, e.To).Inc()
		}
	case holdfast.EventRejected:
		switch e.Reason {
		case holdfast.ReasonBudgetExhausted:
			// A route's retry policies are named for their upstreams, whose
			// budgets they spend; a hedger is named for its route.
			switch e.Source {
			case holdfast.KindRetry:
				m.budgetExhausted.WithLabelValues(e.Policy).Inc()
			case holdfast.KindHedge:
				m.hedgeBudgetExhausted.WithLabelValues(e.Policy).Inc()
			}
		case holdfast.ReasonBreakerOpen, holdfast.ReasonOverloaded, holdfast.ReasonQueueTimeout:
			m.rejections.WithLabelValues(e.Policy, e.Reason).Inc()
		}
	case holdfast.EventQueued:
		m.queueWait.WithLabelValues(e.Policy).Observe(e.Delay.Seconds())
	}
}

var _ holdfast.Listener = (*Metrics)(nil)

// Traffic returns each route's traffic over the last [TrafficWindow], by
// route name (unmatched requests under [UnmatchedRoute]).
func (m *Metrics) Traffic() map[string]Traffic { return m.traffic.snapshot(time.Now()) }

// codeClass maps a status to its class label. 499 (client gone) is 4xx; a
// status outside 100..599 is "other", which keeps the label bounded.
func codeClass(status int) string {
	switch {
	case status >= 100 && status < 200:
		return "1xx"
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return "other"
}
