package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/proxy"
)

// Gauges read from the watched proxy's Status at scrape time. They describe
// the running config only: an upstream a reload removed disappears at once.
var (
	descBreakerState = prometheus.NewDesc("holdfast_upstream_breaker_state",
		"Circuit breaker state: 1 for the current state, 0 for the others.", []string{"upstream", "state"}, nil)
	descPanic = prometheus.NewDesc("holdfast_upstream_panic",
		"1 while the upstream is in panic mode (no usable endpoint, so traffic goes to all of them).", []string{"upstream"}, nil)
	descUsable = prometheus.NewDesc("holdfast_upstream_usable_endpoints",
		"Endpoints that are healthy and not ejected.", []string{"upstream"}, nil)
	descInFlight = prometheus.NewDesc("holdfast_upstream_in_flight",
		"Attempts in flight to the upstream.", []string{"upstream"}, nil)
	descLimit = prometheus.NewDesc("holdfast_upstream_concurrency_limit",
		"Concurrency limit: the fixed limit, or the adaptive limit's current value.", []string{"upstream", "kind"}, nil)
	descQueued = prometheus.NewDesc("holdfast_upstream_queued",
		"Attempts waiting in the upstream's concurrency queue.", []string{"upstream"}, nil)
	descBudget = prometheus.NewDesc("holdfast_upstream_retry_budget_remaining",
		"Retries the upstream's shared retry budget would allow now.", []string{"upstream"}, nil)
	descHealthy = prometheus.NewDesc("holdfast_endpoint_healthy",
		"1 while the endpoint passes active health checks (always 1 without checks).", []string{"upstream", "endpoint"}, nil)
	descEjected = prometheus.NewDesc("holdfast_endpoint_ejected",
		"1 while outlier detection has the endpoint ejected.", []string{"upstream", "endpoint"}, nil)
	descEjections = prometheus.NewDesc("holdfast_endpoint_ejections_total",
		"Outlier ejections of the endpoint since its upstream was built.", []string{"upstream", "endpoint"}, nil)
	descEndpointInFlight = prometheus.NewDesc("holdfast_endpoint_in_flight",
		"Requests in flight to the endpoint.", []string{"upstream", "endpoint"}, nil)
	descEWMA = prometheus.NewDesc("holdfast_endpoint_latency_ewma_seconds",
		"Peak-EWMA latency estimate the balancer uses for the endpoint.", []string{"upstream", "endpoint"}, nil)

	// Routes with a global rate limit (scope: global) only.
	descRedisErrors = prometheus.NewDesc("holdfast_route_rate_limit_redis_errors_total",
		"Calls to Redis by the route's global rate limit that failed or timed out.", []string{"route"}, nil)
	descRedisFallbacks = prometheus.NewDesc("holdfast_route_rate_limit_redis_fallbacks_total",
		"Decisions of the route's global rate limit made by redis.on_error instead of Redis.", []string{"route"}, nil)
	descRedisDegraded = prometheus.NewDesc("holdfast_route_rate_limit_redis_degraded",
		"1 while Redis fails and the route's global rate limit decides by redis.on_error.", []string{"route"}, nil)

	// Upstreams with a shared_breaker only.
	descFleetOpen = prometheus.NewDesc("holdfast_upstream_shared_breaker_open",
		"1 while the upstream's fleet of shared breakers is open.", []string{"upstream"}, nil)
	descFleetOpened = prometheus.NewDesc("holdfast_upstream_shared_breaker_opened_total",
		"Times the fleet opened this process's breaker of the upstream.", []string{"upstream"}, nil)
	descFleetErrors = prometheus.NewDesc("holdfast_upstream_shared_breaker_sync_errors_total",
		"Syncs of the upstream's shared breaker with Redis that failed; meanwhile the breaker decides alone.", []string{"upstream"}, nil)
)

// descConfigInfo is exported from [Metrics.ConfigLoaded]'s hash, one series
// that changes label in one step (a GaugeVec's Reset and Set would let a
// scrape between them see none).
var descConfigInfo = prometheus.NewDesc("holdfast_config_info",
	"Always 1; sha256 is the first 12 hex digits of the SHA-256 of the running config file.", []string{"sha256"}, nil)

// breakerStates are a breaker's states, as the breaker package names them.
var breakerStates = [...]string{breaker.Closed.String(), breaker.Open.String(), breaker.HalfOpen.String()}

// series sends a scrape's metrics, each built from a value read then.
type series chan<- prometheus.Metric

func (s series) counter(d *prometheus.Desc, v float64, labels ...string) {
	s <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (s series) gauge(d *prometheus.Desc, v float64, labels ...string) {
	s <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// statusSeries are the series of one part of the proxy (its upstreams, the
// vote routes, quiesce, canaries, durable routes) read from its Status.
type statusSeries struct {
	descs []*prometheus.Desc
	emit  func(s series, st *proxy.Status)
}

// statusParts are every statusSeries; statusCollector exports them all
// from one Status a scrape (building it may ask the durable store).
var statusParts = []statusSeries{
	{descs: []*prometheus.Desc{
		descBreakerState, descPanic, descUsable, descInFlight, descLimit, descQueued, descBudget,
		descHealthy, descEjected, descEjections, descEndpointInFlight, descEWMA,
		descRedisErrors, descRedisFallbacks, descRedisDegraded, descFleetOpen, descFleetOpened, descFleetErrors,
	}, emit: upstreamSeries},
	voteSeries, quiesceSeries, canarySeries, durableSeries,
}

// statusCollector exports the config's hash and statusParts from a proxy
// snapshot taken at scrape time.
type statusCollector struct{ m *Metrics }

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConfigInfo
	for _, part := range statusParts {
		for _, d := range part.descs {
			ch <- d
		}
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := series(ch)
	if h := c.m.configHash.Load(); h != nil {
		s.gauge(descConfigInfo, 1, *h)
	}
	p := c.m.proxy.Load()
	if p == nil {
		return
	}
	st := p.Status()
	for _, part := range statusParts {
		part.emit(s, &st)
	}
}

// upstreamSeries are the gauges of the upstreams, their endpoints and
// limits, and of the routes' Redis limiters.
func upstreamSeries(s series, st *proxy.Status) {
	for _, r := range st.Routes {
		if rs := r.RateLimitRedis; rs != nil {
			s.counter(descRedisErrors, float64(rs.Errors), r.Name)
			s.counter(descRedisFallbacks, float64(rs.Fallbacks), r.Name)
			s.gauge(descRedisDegraded, bool01(rs.Degraded), r.Name)
		}
	}
	for _, u := range st.Upstreams {
		if f := u.SharedBreaker; f != nil {
			s.gauge(descFleetOpen, bool01(f.Open), u.Name)
			s.counter(descFleetOpened, float64(f.Opened), u.Name)
			s.counter(descFleetErrors, float64(f.Errors), u.Name)
		}
		if b := u.Breaker; b != nil {
			for _, state := range breakerStates {
				s.gauge(descBreakerState, bool01(b.State.String() == state), u.Name, state)
			}
		}
		s.gauge(descPanic, bool01(u.Panic), u.Name)
		s.gauge(descUsable, float64(u.Usable), u.Name)
		inFlight := 0
		for _, e := range u.Endpoints {
			inFlight += e.InFlight
			s.gauge(descHealthy, bool01(e.Healthy), u.Name, e.Address)
			s.gauge(descEjected, bool01(e.Ejected), u.Name, e.Address)
			s.counter(descEjections, float64(e.Ejections), u.Name, e.Address)
			s.gauge(descEndpointInFlight, float64(e.InFlight), u.Name, e.Address)
			s.gauge(descEWMA, e.EWMA, u.Name, e.Address)
		}
		if cs := u.Concurrency; cs != nil {
			// The limit's own count is what it compares with its limit.
			inFlight = cs.InFlight
			s.gauge(descLimit, float64(cs.Limit), u.Name, cs.Kind)
			if cs.Kind == "fixed" {
				s.gauge(descQueued, float64(cs.Queued), u.Name)
			}
		}
		s.gauge(descInFlight, float64(inFlight), u.Name)
		s.gauge(descBudget, float64(u.RetryBudget.Remaining), u.Name)
	}
}

// The data plane's client connections, counted at scrape time.
var (
	descConnections = prometheus.NewDesc("holdfast_listener_connections",
		"Client connections of the data plane's listeners, by state: active (reading or serving a request), idle (waiting for the next, for their first second), parked (waiting without a goroutine), upgraded (carrying the protocol a request switched to, WebSocket), http2 (served over h2c).",
		[]string{"state"}, nil)
	descConnectionsAccepted = prometheus.NewDesc("holdfast_listener_connections_accepted_total",
		"Client connections the data plane's listeners accepted.", nil, nil)
	descConnectionsRefused = prometheus.NewDesc("holdfast_listener_connections_refused_total",
		"Client connections closed as soon as they were accepted, with limits.max_connections open.", nil, nil)
)

// connCollector exports the connection series of [Metrics] from the
// watched server.
type connCollector struct{ m *Metrics }

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConnections
	ch <- descConnectionsAccepted
	ch <- descConnectionsRefused
}

func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	srv := c.m.server.Load()
	if srv == nil {
		return
	}
	cs := srv.Connections()
	s := series(ch)
	s.gauge(descConnections, float64(cs.Active), "active")
	s.gauge(descConnections, float64(cs.Idle), "idle")
	s.gauge(descConnections, float64(cs.Parked), "parked")
	s.gauge(descConnections, float64(cs.Upgraded), "upgraded")
	s.gauge(descConnections, float64(cs.HTTP2), "http2")
	s.counter(descConnectionsAccepted, float64(cs.Accepted))
	s.counter(descConnectionsRefused, float64(cs.Refused))
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
