package importer

import (
	"math"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/upstream"
)

// This file reads Istio's DestinationRule (networking/v1alpha3/
// destination_rule.proto): the traffic policy of a host, of its ports and
// of its subsets, each translated once into the upstream parts it sets.

type destinationRule struct {
	m       meta
	at      value
	host    string // as Istio resolves it (see fqdn)
	policy  *policy
	subsets []*subset
	used    bool
}

type subset struct {
	name   string
	labels string // "version=v1", for the endpoint note
	at     value
	policy *policy
	used   bool
}

// policy is one TrafficPolicy (or PortTrafficPolicy) translated: each part
// it sets, nil for the parts it leaves to an outer policy.
type policy struct {
	lb      *upstream.BalancerName
	pool    *pool
	outlier *upstream.OutlierConfig
	tls     *tlsPart
	budget  *retry.BudgetConfig
	ports   map[int]*policy
	at      value // the policy's mapping, for a note when it is unused
	used    bool  // a destination's upstream took it (port-level settings)
}

// pool is a ConnectionPoolSettings translated.
type pool struct {
	connectTimeout, idleTimeout time.Duration
	h2                          bool
	concurrency                 *config.Concurrency
}

// tlsPart is a ClientTLSSettings translated: https says the endpoints
// speak TLS.
type tlsPart struct {
	https bool
	cfg   *upstream.TLSConfig
}

func (imp *importer) readDestinationRule(o *object, m meta) {
	spec := o.obj("spec")
	if spec == nil {
		m.at.notTranslated("no spec; nothing to translate")
		return
	}
	host, hv, ok := spec.str("host")
	if !ok || host == "" {
		m.at.notTranslated("no host; the rule applies to nothing")
		spec.skipRest()
		return
	}
	dr := &destinationRule{m: m, at: hv, host: fqdn(host, m.namespace)}
	dr.policy = readPolicy(spec.obj("trafficPolicy"), true)
	for _, sv := range spec.list("subsets") {
		so := sv.object()
		if so == nil {
			continue
		}
		name, _, _ := so.str("name")
		s := &subset{name: name, at: sv}
		keys, vals := so.entries("labels")
		for i, k := range keys {
			if s.labels != "" {
				s.labels += ","
			}
			text, _ := vals[i].scalar("a string")
			s.labels += k + "=" + text
		}
		s.policy = readPolicy(so.obj("trafficPolicy"), true)
		so.done()
		if name == "" {
			sv.notTranslated("a subset needs a name; left out")
			continue
		}
		dr.subsets = append(dr.subsets, s)
	}
	spec.skip("exportTo", "visibility across namespaces is Kubernetes scoping; holdfast has none")
	spec.skip("workloadSelector", "chooses the workloads the rule applies to; holdfast applies it to every request it sends to the host")
	spec.done()
	imp.rules = append(imp.rules, dr)
}

// readPolicy reads a TrafficPolicy; ports says it may hold
// portLevelSettings (a PortTrafficPolicy may not).
func readPolicy(o *object, ports bool) *policy {
	if o == nil {
		return nil
	}
	p := &policy{at: o.value}
	if lb := o.obj("loadBalancer"); lb != nil {
		p.lb = readLoadBalancer(lb)
	}
	if cp := o.obj("connectionPool"); cp != nil {
		p.pool = readPool(cp)
	}
	if od := o.obj("outlierDetection"); od != nil {
		p.outlier = readOutlier(od)
	}
	if t := o.obj("tls"); t != nil {
		p.tls = readTLS(t)
	}
	if !ports {
		return p
	}
	if rb := o.obj("retryBudget"); rb != nil {
		p.budget = readIstioBudget(rb)
	}
	for _, pv := range o.list("portLevelSettings") {
		po := pv.object()
		if po == nil {
			continue
		}
		number := 0
		if sel := po.obj("port"); sel != nil {
			number, _, _ = sel.int("number", 1)
			sel.done()
		}
		pp := readPolicy(po, false)
		po.done()
		if number < 1 || number > 65535 {
			pv.notTranslated("no port number; the settings are left out")
			continue
		}
		if p.ports == nil {
			p.ports = map[int]*policy{}
		}
		if _, dup := p.ports[number]; dup {
			pv.notTranslated("port %d has settings already; these are left out", number)
			continue
		}
		p.ports[number] = pp
	}
	o.skip("tunnel", "holdfast does not tunnel connections (HTTP CONNECT)")
	o.skip("proxyProtocol", "holdfast does not send the PROXY protocol")
	o.done()
	return p
}

func readLoadBalancer(o *object) *upstream.BalancerName {
	var b *upstream.BalancerName
	set := func(n upstream.BalancerName) { b = &n }
	if s, sv, ok := o.str("simple"); ok {
		switch s {
		case "ROUND_ROBIN":
			set(upstream.BalancerRoundRobin)
		case "LEAST_REQUEST", "LEAST_CONN":
			set(upstream.BalancerLeastRequest)
		case "RANDOM":
			set(upstream.BalancerRandom)
		case "UNSPECIFIED":
		case "PASSTHROUGH":
			sv.notTranslated("holdfast balances over its endpoints; it does not send to the address the client asked for")
		default:
			sv.notTranslated("%q is not a load balancer Istio knows", s)
		}
	}
	o.skip("consistentHash", "holdfast has no hash-based (sticky) balancer")
	o.skip("localityLbSetting", "holdfast has no localities; endpoint priorities (failover groups) are the nearest thing")
	o.skip("zoneAwareLbSetting", "holdfast has no localities; endpoint priorities (failover groups) are the nearest thing")
	o.skip("warmupDurationSecs", "holdfast does not ramp traffic up to new endpoints")
	o.skip("warmup", "holdfast does not ramp traffic up to new endpoints")
	o.done()
	return b
}

// unlimited is the count at and past which Istio's connection pool
// settings mean "no limit" (their default is 2^32-1).
const unlimited = math.MaxInt32

func readPool(o *object) *pool {
	p := &pool{}
	var maxConns int
	var maxConnsAt value
	if tcp := o.obj("tcp"); tcp != nil {
		maxConns, maxConnsAt, _ = tcp.int("maxConnections", 0)
		p.connectTimeout, _, _ = tcp.duration("connectTimeout")
		tcp.skip("tcpKeepalive", "holdfast does not set TCP keep-alive probes")
		tcp.skip("maxConnectionDuration", "holdfast does not close connections by age")
		tcp.skip("idleTimeout", "holdfast closes pooled connections idle for idle_timeout (connectionPool.http.idleTimeout); a busy one's idleness is bounded by limits.stream_idle_timeout, for every upstream")
		tcp.done()
	}
	var maxReqs, pending int
	var pendingAt value
	if h := o.obj("http"); h != nil {
		pending, pendingAt, _ = h.int("http1MaxPendingRequests", 0)
		maxReqs, _, _ = h.int("http2MaxRequests", 0)
		p.idleTimeout, _, _ = h.duration("idleTimeout")
		if s, sv, ok := h.str("h2UpgradePolicy"); ok {
			switch s {
			case "UPGRADE":
				p.h2 = true
				sv.note("UPGRADE: holdfast speaks HTTP/2 to the endpoints with prior knowledge (protocol: h2c), with no HTTP/1.1 upgrade first")
			case "DEFAULT", "DO_NOT_UPGRADE":
			default:
				sv.notTranslated("%q is not an h2UpgradePolicy Istio knows", s)
			}
		}
		h.skip("maxRequestsPerConnection", "holdfast reuses a connection for any number of requests")
		h.skip("maxRetries", "holdfast bounds retries with a retry budget (retry_budget), not by the retries in flight")
		h.skip("useClientProtocol", "holdfast speaks the upstream's protocol (http1 or h2c) whatever the client spoke")
		h.skip("maxConcurrentStreams", "holdfast leaves HTTP/2 streams per connection to the endpoint's SETTINGS")
		h.skip("http2KeepAlive", "holdfast sends no HTTP/2 PINGs")
		h.done()
	}
	o.done()
	limit := 0
	if maxReqs > 0 && maxReqs < unlimited {
		limit = maxReqs
	}
	if maxConns > 0 && maxConns < unlimited {
		switch {
		case p.h2:
			maxConnsAt.notTranslated("over HTTP/2 a connection carries many requests; holdfast does not cap connections")
		case limit == 0 || maxConns < limit:
			limit = maxConns
			maxConnsAt.note("HTTP/1.1 sends one request at a time on a connection, so at most %d connections is at most %d requests in flight: concurrency.limit: %d", maxConns, maxConns, maxConns)
		}
	}
	if limit > 0 {
		p.concurrency = &config.Concurrency{}
		p.concurrency.Limit = limit
	}
	if pending > 0 && pending < unlimited {
		if p.concurrency == nil {
			pendingAt.notTranslated("holdfast queues requests only behind a concurrency limit (http2MaxRequests or tcp.maxConnections)")
		} else {
			p.concurrency.Queue = pending
			pendingAt.note("a queued request waits up to concurrency.queue_timeout (100ms), not until the route timeout as Envoy's pending requests do")
		}
	}
	return p
}

// readOutlier translates Istio's OutlierDetection. holdfast counts one
// kind of failure (a 5xx answer, a connect failure, a reset or a timeout),
// as Envoy's consecutive 5xx counter does when local-origin errors are not
// split out.
func readOutlier(o *object) *upstream.OutlierConfig {
	c := &upstream.OutlierConfig{}
	c5, c5v, has5 := o.int("consecutive5xxErrors", 0)
	gw, gwv, hasGw := o.int("consecutiveGatewayErrors", 0)
	if old, ov, ok := o.int("consecutiveErrors", 0); ok {
		// The deprecated field counts gateway errors (502, 503, 504).
		if !hasGw {
			gw, gwv, hasGw = old, ov, true
		} else {
			ov.notTranslated("ignored: consecutiveGatewayErrors is set")
		}
	}
	if !has5 {
		c5 = 5 // Istio's default
	}
	switch {
	case c5 > 0:
		c.ConsecutiveFailures = c5
		if hasGw && gw > 0 && gw < c5 {
			gwv.notTranslated("holdfast counts one kind of failure: it ejects after %d in a row of any (consecutive5xxErrors), not after %d gateway errors", c5, gw)
		}
	case hasGw && gw > 0:
		c.ConsecutiveFailures = gw
		gwv.note("holdfast counts every 5xx, connect failure, reset and timeout toward consecutive_failures, not only 502, 503 and 504")
	default:
		c.Disabled = true
		c5v.note("0 turns 5xx ejection off and no gateway-error count is set: outlier_detection.disabled: true")
	}
	if split, sv, ok := o.bool("splitExternalLocalOriginErrors"); ok && split {
		sv.notTranslated("holdfast does not count local-origin failures (connect failures, resets, timeouts) apart from 5xx answers")
	}
	o.skip("consecutiveLocalOriginFailures", "holdfast does not count local-origin failures apart from 5xx answers")
	o.skip("interval", "holdfast ejects at the failure that completes the count; it has no sweep interval")
	c.BaseEjectionTime, _, _ = o.duration("baseEjectionTime")
	if pct, pv, ok := o.int("maxEjectionPercent", 0); ok && pct > 0 {
		if pct > 100 {
			pv.notTranslated("must be at most 100, got %d; holdfast's default, 50, applies", pct)
		} else {
			c.MaxEjectionPercent = pct
			pv.note("Envoy ejects at least one endpoint whatever the percentage; holdfast never ejects past it, so with fewer than %d endpoints it ejects none", (100+pct-1)/pct)
		}
	}
	if mh, mv, ok := o.int("minHealthPercent", 0); ok && mh > 0 {
		mv.notTranslated("holdfast keeps ejecting within max_ejection_percent whatever the share of healthy endpoints; with none usable it spreads requests over all of them (panic mode)")
	}
	o.skip("outlierDetectionHttpErrorCodes", "holdfast counts every 5xx answer as a failure, and no other status")
	o.done()
	return c
}

func readTLS(o *object) *tlsPart {
	t := &tlsPart{}
	mode, mv, _ := o.str("mode")
	switch mode {
	case "", "DISABLE":
	case "SIMPLE", "MUTUAL":
		t.https = true
		t.cfg = &upstream.TLSConfig{}
	case "ISTIO_MUTUAL":
		mv.notTranslated("Istio's mesh mTLS uses certificates of Istio's own; holdfast speaks plain HTTP to the endpoints")
	default:
		mv.notTranslated("%q is not a TLS mode Istio knows", mode)
	}
	sni, _, _ := o.str("sni")
	skip, _, _ := o.bool("insecureSkipVerify")
	if t.cfg != nil {
		t.cfg.ServerName = sni
		t.cfg.InsecureSkipVerify = skip
	}
	file := "a path in the Istio proxy's file system; set upstreams.NAME.tls.%s to a file holdfast can read"
	o.skip("caCertificates", file, "ca_file")
	o.skip("clientCertificate", file, "cert_file")
	o.skip("privateKey", file, "key_file")
	o.skip("credentialName", "a Kubernetes secret; set upstreams.NAME.tls.ca_file, cert_file and key_file to files holdfast can read")
	o.skip("subjectAltNames", "holdfast checks the certificate against server_name (sni), not a list of names")
	o.skip("caCrl", "holdfast does not check certificate revocation lists")
	o.done()
	return t
}

// readIstioBudget translates a DestinationRule's retryBudget (Envoy's:
// retries in flight against requests in flight) into holdfast's (retries
// against requests over a window).
func readIstioBudget(o *object) *retry.BudgetConfig {
	b := &retry.BudgetConfig{}
	pct, pv, ok := o.float("percent")
	switch {
	case !ok:
	case pct <= 0 || pct > 100:
		pv.notTranslated("holdfast's budget ratio must be in (0, 1], from a percent in (0, 100], got %g; its default, 20%%, applies", pct)
	default:
		b.Ratio = pct / 100
		pv.note("Envoy counts retries in flight against requests in flight; holdfast counts retries against requests over the budget's window (10s unless budgetInterval is set)")
	}
	o.skip("minRetryConcurrency", "a floor of concurrent retries; holdfast's floor, min_per_second, is retries per second (default 10)")
	if d, dv, ok := o.duration("budgetInterval"); ok && d > 0 {
		if d < time.Millisecond {
			dv.notTranslated("holdfast's budget window is at least 1ms, got %s", d)
		} else {
			b.Window = d
		}
	}
	o.done()
	return b
}
