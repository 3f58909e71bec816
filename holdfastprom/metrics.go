package holdfastprom

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/upstream"
)

// DurationBuckets are the classic buckets, in seconds, of holdfast's request
// and attempt latency histograms. They put a bound on every common SLO
// threshold from 5 ms to 3 s, so that a latency objective reads exactly from
// one bucket, and so that a quantile estimated by histogram_quantile is off
// by at most the gap between two neighbours (a 200 ms backend reads as at
// most 0.2 s, not the 0.2485 s of a 0.1-0.25 s gap). 1 ms and 2.5 ms catch
// local replies, 10 s and 30 s long timeouts.
var DurationBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75,
	1, 1.5, 2, 2.5, 3, 5, 10, 30,
}

// QueueBuckets are the classic buckets, in seconds, of
// holdfast_upstream_queue_wait_seconds: a wait in a concurrency queue,
// which a queue timeout bounds.
var QueueBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// NativeBucketFactor is the growth factor of the native histogram buckets
// that [HistogramOpts] adds: each bucket is at most 10% wider than the one
// below (client_golang picks the schema whose factor, 2^(2^-3) ≈ 1.09, is
// the largest not above it), so a quantile read from them is within 10% of
// the truth, at any latency.
const NativeBucketFactor = 1.1

// HistogramOpts returns the options of a holdfast histogram: the classic
// buckets given, plus native histogram buckets of factor
// [NativeBucketFactor], at most 160 of them (past that the resolution
// halves), reset at most once an hour. A scraper that asks for native
// histograms (Prometheus with native histograms enabled, which negotiates
// the protobuf format) gets both; the text format carries the classic ones.
func HistogramOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Name:                            name,
		Help:                            help,
		Buckets:                         buckets,
		NativeHistogramBucketFactor:     NativeBucketFactor,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}
}

// Config configures [New]. The zero value is valid.
type Config struct {
	// Registerer receives the metrics. Nil means
	// prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
	// QueueBuckets are the classic buckets of
	// holdfast_upstream_queue_wait_seconds, in increasing order. Nil means
	// [QueueBuckets].
	QueueBuckets []float64
}

// Validate reports an invalid field as a [*holdfast.ConfigError] keyed
// under "holdfastprom".
func (c Config) Validate() error {
	if err := checkBuckets(c.QueueBuckets); err != "" {
		return holdfast.ConfigErrorf("holdfastprom", "queue_buckets", "%s, got %v", err, c.QueueBuckets)
	}
	return nil
}

// checkBuckets returns what is wrong with buckets, or "". client_golang
// panics on buckets out of order; holdfast refuses them instead.
func checkBuckets(buckets []float64) string {
	for i, b := range buckets {
		switch {
		case math.IsNaN(b):
			return "must be numbers"
		case i > 0 && !(b > buckets[i-1]):
			return "must be in increasing order"
		}
	}
	return ""
}

// Labels the metrics use, as the proxy's do.
const (
	labelUpstream = "upstream"
	labelRoute    = "route"
)

// Metrics counts holdfast events as Prometheus metrics (the package comment
// lists them). Create it with [New]; the zero value is not usable. It is
// safe for concurrent use.
type Metrics struct {
	retries              *prometheus.CounterVec
	budgetExhausted      *prometheus.CounterVec
	hedgeBudgetExhausted *prometheus.CounterVec
	rejections           *prometheus.CounterVec
	breakerTransitions   *prometheus.CounterVec
	endpointChanges      *prometheus.CounterVec
	ejections            *prometheus.CounterVec
	queueWait            *prometheus.HistogramVec
}

var _ holdfast.Listener = (*Metrics)(nil)

// New returns metrics registered on c.Registerer. It fails on an invalid
// config or when the registerer already has metrics of these names.
func New(c Config) (*Metrics, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	reg := c.Registerer
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	buckets := c.QueueBuckets
	if buckets == nil {
		buckets = QueueBuckets
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		retries: counter("holdfast_upstream_retries_total",
			"Retries decided after a failed attempt or round, by the upstream (retry policy) retried.", labelUpstream),
		budgetExhausted: counter("holdfast_upstream_retry_budget_exhausted_total",
			"Retries not made because the upstream's retry budget was spent.", labelUpstream),
		hedgeBudgetExhausted: counter("holdfast_route_hedge_budget_exhausted_total",
			"Hedges not started because the route's hedge budget was spent.", labelRoute),
		rejections: counter("holdfast_upstream_rejections_total",
			"Attempts refused before reaching an endpoint: breaker_open, overloaded or queue_timeout.", labelUpstream, "reason"),
		breakerTransitions: counter("holdfast_upstream_breaker_transitions_total",
			"Circuit breaker state changes.", labelUpstream, "from", "to"),
		endpointChanges: counter("holdfast_upstream_endpoint_changes_total",
			"Endpoint health, ejection and panic-mode changes, by the state entered.", labelUpstream, "to"),
		ejections: counter("holdfast_upstream_ejections_total",
			"Endpoints ejected by outlier detection, by reason: consecutive_failures, deadline_misses, consecutive_invariant_violations (wrong answers a route's checks withheld) or probation_failure.",
			labelUpstream, "reason"),
		queueWait: prometheus.NewHistogramVec(HistogramOpts("holdfast_upstream_queue_wait_seconds",
			"Time attempts waited in the upstream's concurrency queue before getting a slot.", buckets), []string{labelUpstream}),
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{
		m.retries, m.budgetExhausted, m.hedgeBudgetExhausted, m.rejections, m.breakerTransitions, m.endpointChanges, m.ejections, m.queueWait,
	} {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("holdfastprom: %w", err)
		}
		done = append(done, c)
	}
	return m, nil
}

// MustNew is [New] that panics on error, for examples and package-level
// metrics.
func MustNew(c Config) *Metrics {
	m, err := New(c)
	if err != nil {
		panic(err)
	}
	return m
}

// breakerStates are a breaker's states, as its events name them.
var breakerStates = []string{breaker.Closed.String(), breaker.Open.String(), breaker.HalfOpen.String()}

// ejectedState is the state an ejection's event enters, and
// ejectionReasons the reasons outlier detection ejects for, from the
// upstream package's own names.
var (
	ejectedState    = (upstream.Change{Kind: upstream.EndpointEjected}).Event().To
	ejectionReasons = []string{upstream.ReasonConsecutiveFailures, upstream.ReasonDeadlineMisses,
		upstream.ReasonConsecutiveInvariantViolations, upstream.ReasonProbationFailure}
)

// endpointStates are the states an upstream's events enter (To): each
// [upstream.ChangeKind]'s, from the upstream package's own mapping.
var endpointStates = func() []string {
	var to []string
	for k := upstream.EndpointUnhealthy; k <= upstream.PanicExited; k++ {
		if s := (upstream.Change{Kind: k}).Event().To; !slices.Contains(to, s) {
			to = append(to, s)
		}
	}
	return to
}()

// Reasons of the rejections counted, by the kind of policy that reports
// them.
var (
	breakerReasons  = []string{holdfast.ReasonBreakerOpen}
	bulkheadReasons = []string{holdfast.ReasonOverloaded, holdfast.ReasonQueueTimeout}
)

// OnEvent counts e, if it is one of the events the package comment lists.
func (m *Metrics) OnEvent(e holdfast.Event) {
	switch e.Kind {
	case holdfast.EventRetry:
		if e.Source == holdfast.KindRetry {
			m.retries.WithLabelValues(e.Policy).Inc()
		}
	case holdfast.EventStateChange:
		switch e.Source {
		case holdfast.KindBreaker:
			if e.From != e.To && slices.Contains(breakerStates, e.From) && slices.Contains(breakerStates, e.To) {
				m.breakerTransitions.WithLabelValues(e.Policy, e.From, e.To).Inc()
			}
		case holdfast.KindUpstream:
			if slices.Contains(endpointStates, e.To) {
				m.endpointChanges.WithLabelValues(e.Policy, e.To).Inc()
			}
			if e.To == ejectedState && slices.Contains(ejectionReasons, e.Reason) {
				m.ejections.WithLabelValues(e.Policy, e.Reason).Inc()
			}
		}
	case holdfast.EventRejected:
		switch {
		case e.Reason == holdfast.ReasonBudgetExhausted && e.Source == holdfast.KindRetry:
			m.budgetExhausted.WithLabelValues(e.Policy).Inc()
		case e.Reason == holdfast.ReasonBudgetExhausted && e.Source == holdfast.KindHedge:
			m.hedgeBudgetExhausted.WithLabelValues(e.Policy).Inc()
		case e.Source == holdfast.KindBreaker && slices.Contains(breakerReasons, e.Reason),
			e.Source == holdfast.KindBulkhead && slices.Contains(bulkheadReasons, e.Reason):
			m.rejections.WithLabelValues(e.Policy, e.Reason).Inc()
		}
	case holdfast.EventQueued:
		if e.Source == holdfast.KindBulkhead {
			m.queueWait.WithLabelValues(e.Policy).Observe(e.Delay.Seconds())
		}
	}
}

// Add creates, at 0, every series the given policies can have, by their
// kinds and names ([holdfast.Kinded], [holdfast.Named]); policies of other
// kinds, or without a kind or a name, are skipped. An upstream's events say
// [holdfast.KindUpstream] while its Kind orders it as any other stage; add
// it with [Metrics.AddName].
func (m *Metrics) Add(policies ...holdfast.Policy) {
	for _, p := range policies {
		k, ok := p.(holdfast.Kinded)
		n, named := p.(holdfast.Named)
		if ok && named {
			m.AddName(k.Kind(), n.Name())
		}
	}
}

// AddName creates, at 0, every series a policy of kind k named name can
// have. It does nothing for a kind whose events are not counted.
func (m *Metrics) AddName(k holdfast.Kind, name string) {
	switch k {
	case holdfast.KindRetry:
		m.retries.WithLabelValues(name)
		m.budgetExhausted.WithLabelValues(name)
	case holdfast.KindHedge:
		m.hedgeBudgetExhausted.WithLabelValues(name)
	case holdfast.KindBreaker:
		for _, from := range breakerStates {
			for _, to := range breakerStates {
				if from != to {
					m.breakerTransitions.WithLabelValues(name, from, to)
				}
			}
		}
		for _, r := range breakerReasons {
			m.rejections.WithLabelValues(name, r)
		}
	case holdfast.KindBulkhead:
		for _, r := range bulkheadReasons {
			m.rejections.WithLabelValues(name, r)
		}
		m.queueWait.WithLabelValues(name)
	case holdfast.KindUpstream:
		for _, to := range endpointStates {
			m.endpointChanges.WithLabelValues(name, to)
		}
		for _, r := range ejectionReasons {
			m.ejections.WithLabelValues(name, r)
		}
	}
}

// Remove deletes every series of the policy of kind k named name, for a
// policy that is gone (a reload dropped it), so that it stops being
// exported. An event that arrives later creates its series again.
func (m *Metrics) Remove(k holdfast.Kind, name string) {
	switch k {
	case holdfast.KindRetry:
		m.retries.DeleteLabelValues(name)
		m.budgetExhausted.DeleteLabelValues(name)
	case holdfast.KindHedge:
		m.hedgeBudgetExhausted.DeleteLabelValues(name)
	case holdfast.KindBreaker:
		m.breakerTransitions.DeletePartialMatch(prometheus.Labels{labelUpstream: name})
		for _, r := range breakerReasons {
			m.rejections.DeleteLabelValues(name, r)
		}
	case holdfast.KindBulkhead:
		for _, r := range bulkheadReasons {
			m.rejections.DeleteLabelValues(name, r)
		}
		m.queueWait.DeleteLabelValues(name)
	case holdfast.KindUpstream:
		m.endpointChanges.DeletePartialMatch(prometheus.Labels{labelUpstream: name})
		m.ejections.DeletePartialMatch(prometheus.Labels{labelUpstream: name})
	}
}
