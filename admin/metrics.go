package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/holdfastprom"
	"github.com/holdfast-dev/holdfast/proxy"
)

// UnmatchedRoute is the route label of requests that no route matched.
const UnmatchedRoute = "_unmatched"

// localReplyReasons are the reasons a request can end with: holdfasthttp's
// one list (the client leaving included).
var localReplyReasons = holdfasthttp.Reasons

// codeClasses are the status classes every route starts with. "other", a
// status outside 100..599, exists only once seen.
var codeClasses = []string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Reload results, the values of holdfast_config_reloads_total's label.
const (
	reloadSuccess = "success"
	reloadFailure = "failure"
)

// Metrics turns a proxy's finished requests ([Metrics.OnRequest]), sent
// attempts ([Metrics.OnAttempt]) and policy events ([Metrics.OnEvent],
// counted by [holdfastprom]) into Prometheus metrics, and reads gauges from
// the watched proxy's [proxy.Status] when scraped. It also keeps each
// route's recent traffic for the status page ([Metrics.Traffic]).
//
// Every series a route, upstream or endpoint of the watched proxy's config
// can have exists from the moment it is watched, at 0, so that the first
// failures show to rate() and increase(); when the proxy runs a new config
// (checked at every scrape, and at once by [Metrics.Reloaded]), the series
// of what it dropped are deleted, and later reports about them (a request
// that was in flight across the reload) are not counted.
//
// Metrics registers on its own registry, never the global one. Every label
// value comes from the config (route, upstream and endpoint names) or from a
// fixed set (status class, reason, outcome, breaker state), so the number of
// series is bounded by the config: no raw paths, no rate-limit keys.
//
// Create it with [NewMetrics]; the zero value is not usable. It is safe for
// concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	proxy   atomic.Pointer[proxy.Proxy]
	server  atomic.Pointer[proxy.Server] // the data plane's listeners; nil until WatchServer
	traffic *trafficWindows
	events  *holdfastprom.Metrics

	// mu guards known and gone. Reports hold it for reading while they
	// count, a sync for writing, so that a sync's deletions are never
	// undone by a report that looked at the old names.
	mu    sync.RWMutex
	known *names             // the config last synced; nil before Watch
	gone  map[seriesKey]bool // what a sync deleted and no later config has
	// routes and endpoints hold the series of each synced route and
	// endpoint, resolved once when they are created, so that a report
	// costs a map lookup instead of hashing label values per series.
	routes    map[string]*routeSeries
	endpoints map[[2]string]*endpointSeries // by upstream and endpoint label

	// Per route, from RequestInfo.
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	localReplies *prometheus.CounterVec
	fallbacks    *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec

	// Per upstream, from RequestInfo.
	attempts *prometheus.CounterVec
	hedges   *prometheus.CounterVec

	// Per endpoint, from AttemptInfo.
	endpointAttempts  *prometheus.CounterVec
	endpointResponses *prometheus.CounterVec
	endpointDuration  *prometheus.HistogramVec

	// The process: build and config.
	buildInfo      *prometheus.GaugeVec
	configHash     atomic.Pointer[string] // holdfast_config_info's label; statusCollector exports it
	reloads        *prometheus.CounterVec
	lastReloadOK   *prometheus.GaugeVec // no labels: absent until a config is loaded
	lastReloadTime *prometheus.GaugeVec
}

// NewMetrics returns metrics on a fresh registry that also holds the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), traffic: newTrafficWindows(), gone: map[seriesKey]bool{},
		routes: map[string]*routeSeries{}, endpoints: map[[2]string]*endpointSeries{}}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(holdfastprom.HistogramOpts(name, help, holdfastprom.DurationBuckets), labels)
	}
	m.requests = counter("holdfast_route_requests_total",
		"Requests answered by a route, by status class (1xx to 5xx).", "route", "code_class")
	m.duration = histogram("holdfast_route_request_duration_seconds",
		"Time from receiving a request to its answer's headers and body being handed on, retries included, by status class.",
		"route", "code_class")
	m.localReplies = counter("holdfast_route_local_replies_total",
		"Requests holdfast answered itself instead of relaying an upstream's answer, by reason.", "route", "reason")
	m.fallbacks = counter("holdfast_route_fallbacks_total",
		"Requests answered by the route's fallback, by the failure it replaced.", "route", "reason")
	m.rateLimited = counter("holdfast_route_rate_limited_total",
		"Requests refused by the route's rate limit.", "route")
	m.attempts = counter("holdfast_upstream_attempts_total",
		"Attempts sent to an upstream's endpoints, retries and hedges included.", "upstream")
	m.hedges = counter("holdfast_upstream_hedges_total",
		"Hedged attempts started beyond the first of a round.", "upstream")
	m.endpointAttempts = counter("holdfast_endpoint_attempts_total",
		"Attempts sent to the endpoint, by how they ended: response, connect_failure, reset, try_timeout, canceled, client_fault, withheld.",
		"upstream", "endpoint", "outcome")
	m.endpointResponses = counter("holdfast_endpoint_responses_total",
		"Attempts the endpoint answered, by status class.", "upstream", "endpoint", "code_class")
	m.endpointDuration = histogram("holdfast_endpoint_attempt_duration_seconds",
		"Time from sending an attempt to the endpoint to its response head or its failure.", "upstream", "endpoint")
	m.buildInfo = gauge("holdfast_build_info",
		"Always 1; the labels tell the holdfast build.", "version", "revision", "goversion")
	m.reloads = counter("holdfast_config_reloads_total",
		"Config reloads (SIGHUP or POST /reload), by result: success or failure.", "result")
	m.lastReloadOK = gauge("holdfast_config_last_reload_successful",
		"1 if the last config load or reload succeeded, 0 if it failed.")
	m.lastReloadTime = gauge("holdfast_config_last_reload_success_timestamp_seconds",
		"When the running config was loaded, in seconds since the Unix epoch.")
	for _, r := range []string{reloadSuccess, reloadFailure} {
		m.reloads.WithLabelValues(r)
	}
	events, err := holdfastprom.New(holdfastprom.Config{Registerer: m.reg})
	if err != nil {
		// A fresh registry has none of the names.
		panic(err)
	}
	m.events = events

	m.reg.MustRegister(
		m.requests, m.duration, m.localReplies, m.fallbacks, m.rateLimited,
		m.attempts, m.hedges,
		m.endpointAttempts, m.endpointResponses, m.endpointDuration,
		m.buildInfo, m.reloads, m.lastReloadOK, m.lastReloadTime,
		&statusCollector{m: m}, &checksCollector{m: m}, &shadowCollector{m: m}, &connCollector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry the metrics are on, for adding more. Gather
// through [Metrics.Gather] (as [Metrics.Handler] does) to have the series
// follow the watched proxy's config.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Gather brings the series in line with the watched proxy's running config,
// then gathers the registry.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) {
	m.sync()
	return m.reg.Gather()
}

var _ prometheus.Gatherer = (*Metrics)(nil)

// Handler serves the metrics in the Prometheus exposition formats (text,
// or protobuf to a scraper that asks for native histograms).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m, promhttp.HandlerOpts{Registry: m.reg})
}

// Watch makes the gauges (breaker state, endpoint health and ejection,
// in-flight, limits, panic mode) follow p, and creates at 0 every series
// of p's config. Before Watch, or with nil, the gauges are absent.
func (m *Metrics) Watch(p *proxy.Proxy) {
	m.proxy.Store(p)
	m.sync()
}

// WatchServer has the metrics count the client connections of s's
// listeners (holdfast_listener_connections).
func (m *Metrics) WatchServer(s *proxy.Server) { m.server.Store(s) }

// SetBuildInfo sets holdfast_build_info's labels: the version, the VCS
// revision and the Go version the binary was built with.
func (m *Metrics) SetBuildInfo(version, revision, goVersion string) {
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, revision, goVersion).Set(1)
}

// ConfigLoaded records the config the proxy runs now, loaded at time at
// from a file whose bytes have the SHA-256 sum: at start, and through
// [Metrics.Reloaded] after every successful reload.
func (m *Metrics) ConfigLoaded(sum [sha256.Size]byte, at time.Time) {
	hash := hex.EncodeToString(sum[:6])
	m.configHash.Store(&hash)
	m.lastReloadOK.WithLabelValues().Set(1)
	m.lastReloadTime.WithLabelValues().Set(float64(at.UnixNano()) / 1e9)
}

// Reloaded records a successful reload to the config of the given sum,
// loaded at time at, and brings the series in line with the proxy's new
// config at once.
func (m *Metrics) Reloaded(sum [sha256.Size]byte, at time.Time) {
	m.reloads.WithLabelValues(reloadSuccess).Inc()
	m.ConfigLoaded(sum, at)
	m.sync()
}

// ReloadFailed records a reload that was refused; the running config, and
// its hash, stay.
func (m *Metrics) ReloadFailed() {
	m.reloads.WithLabelValues(reloadFailure).Inc()
	m.lastReloadOK.WithLabelValues().Set(0)
}

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
	m.traffic.record(route, info.Status, info.Duration, now)

	m.mu.RLock()
	defer m.mu.RUnlock()
	if rs := m.routes[route]; rs != nil {
		rs.record(info)
	} else if !m.gone[routeKey(route)] {
		class := codeClass(info.Status)
		m.requests.WithLabelValues(route, class).Inc()
		m.duration.WithLabelValues(route, class).Observe(info.Duration.Seconds())
		switch {
		case info.Fallback:
			if !m.gone[fallbackKey(route, info.Reason)] {
				m.fallbacks.WithLabelValues(route, info.Reason).Inc()
			}
		case info.Reason != "":
			m.localReplies.WithLabelValues(route, info.Reason).Inc()
		}
		if info.Reason == proxy.ReasonRateLimited {
			m.rateLimited.WithLabelValues(route).Inc()
		}
	}
	if info.Vote != nil {
		// A vote route's attempts went to every voter: each its own.
		for _, va := range info.Vote.Attempts {
			if va.Attempts > 0 && !m.gone[upstreamKey(va.Upstream)] {
				m.attempts.WithLabelValues(va.Upstream).Add(float64(va.Attempts))
			}
		}
	} else if u := info.Upstream; u != "" && !m.gone[upstreamKey(u)] {
		if info.Attempts > 0 {
			m.attempts.WithLabelValues(u).Add(float64(info.Attempts))
		}
		if info.Hedges > 0 {
			m.hedges.WithLabelValues(u).Add(float64(info.Hedges))
		}
	}
}

// OnAttempt records one attempt sent to an endpoint; give it to
// [proxy.Options].OnAttempt. Attempts are counted once a proxy is
// watched, whose config names the endpoint.
func (m *Metrics) OnAttempt(a proxy.AttemptInfo) {
	if !slices.Contains(proxy.AttemptOutcomes, a.Outcome) {
		return
	}
	m.mu.RLock()
	ep, ok := m.endpointLocked(a.Upstream, a.Endpoint)
	if !ok && m.staleLocked() {
		// An endpoint of a config not synced yet.
		m.mu.RUnlock()
		m.sync()
		m.mu.RLock()
		ep, ok = m.endpointLocked(a.Upstream, a.Endpoint)
	}
	defer m.mu.RUnlock()
	if !ok || m.gone[endpointKey(a.Upstream, ep)] {
		return
	}
	if es := m.endpoints[[2]string{a.Upstream, ep}]; es != nil {
		es.record(a)
		return
	}
	m.endpointAttempts.WithLabelValues(a.Upstream, ep, a.Outcome).Inc()
	m.endpointDuration.WithLabelValues(a.Upstream, ep).Observe(a.Duration.Seconds())
	if a.Outcome == proxy.AttemptResponse {
		m.endpointResponses.WithLabelValues(a.Upstream, ep, codeClass(a.Status)).Inc()
	}
}

// OnEvent records a policy event; give it to [proxy.Options].Listener.
// [holdfastprom] counts it: events name their route (hedge) or upstream
// (retry, breaker, concurrency limit, endpoints) in Policy, and their kind
// in Source, so a route and an upstream may share a name.
func (m *Metrics) OnEvent(e holdfast.Event) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.gone[policyKey(e.Source, e.Policy)] {
		m.events.OnEvent(e)
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

// seriesKey names what a group of series belongs to: a route, one of its
// fallback reasons, an upstream, an endpoint or a policy (for
// holdfastprom). A config is the set of its keys.
type seriesKey struct {
	kind seriesKind
	a, b string
	k    holdfast.Kind
}

type seriesKind uint8

const (
	keyRoute seriesKind = iota + 1
	keyFallback
	keyUpstream
	keyEndpoint
	keyPolicy
)

func routeKey(route string) seriesKey { return seriesKey{kind: keyRoute, a: route} }
func fallbackKey(route, reason string) seriesKey {
	return seriesKey{kind: keyFallback, a: route, b: reason}
}
func upstreamKey(u string) seriesKey { return seriesKey{kind: keyUpstream, a: u} }
func endpointKey(u, ep string) seriesKey {
	return seriesKey{kind: keyEndpoint, a: u, b: ep}
}
func policyKey(k holdfast.Kind, name string) seriesKey {
	return seriesKey{kind: keyPolicy, a: name, k: k}
}

// names is what one config has series for.
type names struct {
	cfg  *config.Config
	keys map[seriesKey]bool
	// endpoints maps an upstream's endpoints from the host that attempts
	// report (AttemptInfo.Endpoint) to the endpoint label, the address as
	// the proxy's status gives it.
	endpoints map[string]map[string]string
}

// namesOf lists the series of cfg. st, a status read after cfg, gives the
// endpoints' addresses.
func namesOf(cfg *config.Config, st proxy.Status) *names {
	n := &names{cfg: cfg, keys: map[seriesKey]bool{routeKey(UnmatchedRoute): true}, endpoints: map[string]map[string]string{}}
	for _, rc := range cfg.Routes {
		n.keys[routeKey(rc.Name)] = true
		if rc.Fallback != nil {
			for _, reason := range rc.Fallback.On.Names() {
				n.keys[fallbackKey(rc.Name, reason)] = true
			}
		}
		if rc.Hedge != nil {
			n.keys[policyKey(holdfast.KindHedge, rc.Name)] = true
		}
	}
	for name, uc := range cfg.Upstreams {
		n.keys[upstreamKey(name)] = true
		// Every route's retry policy for an upstream is named for it.
		n.keys[policyKey(holdfast.KindRetry, name)] = true
		n.keys[policyKey(holdfast.KindUpstream, name)] = true
		if uc.CircuitBreaker != nil {
			n.keys[policyKey(holdfast.KindBreaker, name)] = true
		}
		if uc.Concurrency != nil {
			n.keys[policyKey(holdfast.KindBulkhead, name)] = true
		}
	}
	for _, us := range st.Upstreams {
		if _, ok := cfg.Upstreams[us.Name]; !ok {
			continue // a newer config's, which the next sync takes
		}
		hosts := map[string]string{}
		for _, es := range us.Endpoints {
			if u, err := url.Parse(es.Address); err == nil {
				hosts[u.Host] = es.Address
			}
			n.keys[endpointKey(us.Name, es.Address)] = true
		}
		n.endpoints[us.Name] = hosts
	}
	return n
}

// endpointLocked returns the endpoint label of an attempt's host; m.mu is
// held.
func (m *Metrics) endpointLocked(upstream, host string) (string, bool) {
	if m.known == nil {
		return "", false
	}
	ep, ok := m.known.endpoints[upstream][host]
	return ep, ok
}

// staleLocked reports whether the watched proxy runs a config other than
// the one synced; m.mu is held.
func (m *Metrics) staleLocked() bool {
	p := m.proxy.Load()
	return p != nil && (m.known == nil || m.known.cfg != p.Config())
}

// sync brings the series in line with the watched proxy's config: creates
// at 0 those of what it has, deletes those of what the last synced config
// had and it has not.
func (m *Metrics) sync() {
	p := m.proxy.Load()
	if p == nil {
		return
	}
	cfg := p.Config()
	m.mu.RLock()
	fresh := m.known != nil && m.known.cfg == cfg
	m.mu.RUnlock()
	if fresh {
		return
	}
	n := namesOf(cfg, p.Status())
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known != nil && m.known.cfg == cfg {
		return
	}
	if m.known != nil {
		for k := range m.known.keys {
			if !n.keys[k] {
				m.deleteLocked(k)
				m.gone[k] = true
			}
		}
	}
	for k := range n.keys {
		delete(m.gone, k)
		m.createLocked(k)
	}
	m.known = n
}

// createLocked creates the series of k at 0 (those that exist already keep
// their values).
func (m *Metrics) createLocked(k seriesKey) {
	switch k.kind {
	case keyRoute:
		rs := &routeSeries{m: m, route: k.a, local: make(map[string]prometheus.Counter, len(localReplyReasons))}
		for i, class := range codeClasses {
			rs.requests[i] = m.requests.WithLabelValues(k.a, class)
			rs.duration[i] = m.duration.WithLabelValues(k.a, class)
		}
		for _, reason := range localReplyReasons {
			rs.local[reason] = m.localReplies.WithLabelValues(k.a, reason)
		}
		rs.rateLimited = m.rateLimited.WithLabelValues(k.a)
		m.routes[k.a] = rs
	case keyFallback:
		m.fallbacks.WithLabelValues(k.a, k.b)
	case keyUpstream:
		m.attempts.WithLabelValues(k.a)
		m.hedges.WithLabelValues(k.a)
	case keyEndpoint:
		es := &endpointSeries{m: m, upstream: k.a, endpoint: k.b, attempts: make(map[string]prometheus.Counter, len(proxy.AttemptOutcomes))}
		for _, o := range proxy.AttemptOutcomes {
			es.attempts[o] = m.endpointAttempts.WithLabelValues(k.a, k.b, o)
		}
		for i, class := range codeClasses {
			es.responses[i] = m.endpointResponses.WithLabelValues(k.a, k.b, class)
		}
		es.duration = m.endpointDuration.WithLabelValues(k.a, k.b)
		m.endpoints[[2]string{k.a, k.b}] = es
	case keyPolicy:
		m.events.AddName(k.k, k.a)
	}
}

// deleteLocked deletes every series of k.
func (m *Metrics) deleteLocked(k seriesKey) {
	switch k.kind {
	case keyRoute:
		delete(m.routes, k.a)
		route := prometheus.Labels{"route": k.a}
		for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
			m.requests, m.duration, m.localReplies, m.fallbacks, m.rateLimited,
		} {
			v.DeletePartialMatch(route)
		}
	case keyFallback:
		m.fallbacks.DeleteLabelValues(k.a, k.b)
	case keyUpstream:
		m.attempts.DeleteLabelValues(k.a)
		m.hedges.DeleteLabelValues(k.a)
	case keyEndpoint:
		delete(m.endpoints, [2]string{k.a, k.b})
		ep := prometheus.Labels{"upstream": k.a, "endpoint": k.b}
		m.endpointAttempts.DeletePartialMatch(ep)
		m.endpointResponses.DeletePartialMatch(ep)
		m.endpointDuration.DeletePartialMatch(ep)
	case keyPolicy:
		m.events.Remove(k.k, k.a)
	}
}

// classIndex returns the index in codeClasses of status's class, or -1 for
// a status outside 100..599.
func classIndex(status int) int {
	if status < 100 || status >= 600 {
		return -1
	}
	return status/100 - 1
}

// routeSeries are one route's series, resolved when they were created.
type routeSeries struct {
	m           *Metrics
	route       string
	requests    [5]prometheus.Counter  // by codeClasses
	duration    [5]prometheus.Observer // by codeClasses
	local       map[string]prometheus.Counter
	rateLimited prometheus.Counter
}

// record counts one finished request of the route, as onRequestAt does
// through the vectors; m.mu is held for reading.
func (rs *routeSeries) record(info proxy.RequestInfo) {
	m := rs.m
	if i := classIndex(info.Status); i >= 0 {
		rs.requests[i].Inc()
		rs.duration[i].Observe(info.Duration.Seconds())
	} else {
		class := codeClass(info.Status)
		m.requests.WithLabelValues(rs.route, class).Inc()
		m.duration.WithLabelValues(rs.route, class).Observe(info.Duration.Seconds())
	}
	switch {
	case info.Fallback:
		if !m.gone[fallbackKey(rs.route, info.Reason)] {
			m.fallbacks.WithLabelValues(rs.route, info.Reason).Inc()
		}
	case info.Reason != "":
		if c := rs.local[info.Reason]; c != nil {
			c.Inc()
		} else {
			m.localReplies.WithLabelValues(rs.route, info.Reason).Inc()
		}
	}
	if info.Reason == proxy.ReasonRateLimited {
		rs.rateLimited.Inc()
	}
}

// endpointSeries are one endpoint's series, resolved when they were
// created.
type endpointSeries struct {
	m                  *Metrics
	upstream, endpoint string
	attempts           map[string]prometheus.Counter // by outcome
	responses          [5]prometheus.Counter         // by codeClasses
	duration           prometheus.Observer
}

// record counts one attempt sent to the endpoint, as OnAttempt does through
// the vectors; m.mu is held for reading.
func (es *endpointSeries) record(a proxy.AttemptInfo) {
	es.attempts[a.Outcome].Inc() // OnAttempt let only a known outcome through
	es.duration.Observe(a.Duration.Seconds())
	if a.Outcome == proxy.AttemptResponse {
		if i := classIndex(a.Status); i >= 0 {
			es.responses[i].Inc()
		} else {
			es.m.endpointResponses.WithLabelValues(es.upstream, es.endpoint, codeClass(a.Status)).Inc()
		}
	}
}
