package toxic

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are a [Server]'s Prometheus metrics, served at GET /metrics as
// Toxiproxy serves its own: Toxiproxy's proxy metrics (bytes received and
// sent, by direction) under holdfast_chaos_ names, plus connections and
// toxics. docs/chaos.md lists them.
//
// A proxy's counters exist at 0 from its creation and a toxic's from its
// addition, so that the first bytes or hits show to rate() and increase();
// a deleted proxy's and a removed toxic's series go with them. The data
// path counts through counters resolved once per proxy (count*), so that a
// connection still open after its proxy is deleted counts into counters
// no longer exported, never bringing the series back.
type metrics struct {
	reg         *prometheus.Registry
	received    *prometheus.CounterVec // proxy, direction
	sent        *prometheus.CounterVec // proxy, direction
	connections *prometheus.CounterVec // proxy
	applied     *prometheus.CounterVec // proxy, toxic, type

	// mu guards byProxy.
	mu      sync.Mutex
	byProxy map[*proxy]*proxyCounters
}

// proxyCounters are one proxy's counters.
type proxyCounters struct {
	name        string
	received    [2]prometheus.Counter // by direction
	sent        [2]prometheus.Counter
	connections prometheus.Counter

	// mu guards applied.
	mu      sync.Mutex
	applied map[string]prometheus.Counter // by toxic name
}

var directions = [2]direction{upstream, downstream}

func newMetrics(s *Server) *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		received: counter("holdfast_chaos_proxy_received_bytes_total",
			"Bytes a proxy read on one direction of its connections, before its toxics: from clients (upstream) or from the upstream (downstream).",
			"proxy", "direction"),
		sent: counter("holdfast_chaos_proxy_sent_bytes_total",
			"Bytes a proxy wrote on one direction of its connections, after its toxics: to the upstream (upstream) or to clients (downstream).",
			"proxy", "direction"),
		connections: counter("holdfast_chaos_proxy_connections_total",
			"Client connections a proxy accepted.", "proxy"),
		applied: counter("holdfast_chaos_toxic_applied_total",
			"Connections (TCP toxics) or requests (HTTP toxics) a toxic acted on: those whose toxicity roll hit.",
			"proxy", "toxic", "type"),
		byProxy: map[*proxy]*proxyCounters{},
	}
	m.reg.MustRegister(m.received, m.sent, m.connections, m.applied, &snapshotCollector{s: s})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// track creates p's counters, if they are not there, and brings its toxic
// counters in line with its toxics: a new toxic's at 0, a removed one's
// deleted. Call it after every change to p's toxics.
func (m *metrics) track(p *proxy) {
	m.mu.Lock()
	pc := m.byProxy[p]
	if pc == nil {
		pc = &proxyCounters{name: p.name, applied: map[string]prometheus.Counter{}}
		for _, d := range directions {
			pc.received[d] = m.received.WithLabelValues(p.name, d.String())
			pc.sent[d] = m.sent.WithLabelValues(p.name, d.String())
		}
		pc.connections = m.connections.WithLabelValues(p.name)
		m.byProxy[p] = pc
	}
	m.mu.Unlock()

	toxics := p.toxics()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	have := map[string]bool{}
	for _, t := range toxics {
		have[t.Name] = true
		if pc.applied[t.Name] == nil {
			pc.applied[t.Name] = m.applied.WithLabelValues(p.name, t.Name, t.Type)
		}
	}
	for name := range pc.applied {
		if !have[name] {
			m.applied.DeletePartialMatch(prometheus.Labels{"proxy": p.name, "toxic": name})
			delete(pc.applied, name)
		}
	}
}

// forget deletes p's series; p is gone.
func (m *metrics) forget(p *proxy) {
	m.mu.Lock()
	pc := m.byProxy[p]
	delete(m.byProxy, p)
	m.mu.Unlock()
	if pc == nil {
		return
	}
	labels := prometheus.Labels{"proxy": pc.name}
	m.received.DeletePartialMatch(labels)
	m.sent.DeletePartialMatch(labels)
	m.connections.DeletePartialMatch(labels)
	m.applied.DeletePartialMatch(labels)
}

// counters returns p's counters, or nil once p is forgotten.
func (m *metrics) counters(p *proxy) *proxyCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byProxy[p]
}

// The data path's counts. Each is a no-op for a proxy no longer tracked.

// countReceived counts n bytes read from the source of direction d.
func (p *proxy) countReceived(d direction, n int) {
	if pc := p.s.metrics.counters(p); pc != nil && n > 0 {
		pc.received[d].Add(float64(n))
	}
}

// countSent counts n bytes written to the destination of direction d.
func (p *proxy) countSent(d direction, n int) {
	if pc := p.s.metrics.counters(p); pc != nil && n > 0 {
		pc.sent[d].Add(float64(n))
	}
}

// countConnection counts a client connection accepted.
func (p *proxy) countConnection() {
	if pc := p.s.metrics.counters(p); pc != nil {
		pc.connections.Inc()
	}
}

// countApplied counts a connection or request that toxic e acts on.
func (p *proxy) countApplied(e *entry) {
	pc := p.s.metrics.counters(p)
	if pc == nil {
		return
	}
	pc.mu.Lock()
	c := pc.applied[e.name]
	pc.mu.Unlock()
	if c != nil {
		c.Inc()
	}
}

// countingConn counts a connection's bytes for p: what is read from it as
// received on direction in, what is written to it as sent on direction
// out. An HTTP proxy's connections count through it (countingListener,
// countingDial); a TCP proxy's links count where they read and write.
type countingConn struct {
	net.Conn
	p       *proxy
	in, out direction
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.p.countReceived(c.in, n)
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.p.countSent(c.out, n)
	return n, err
}

// countingListener counts each client connection an HTTP proxy accepts,
// and its bytes: read from the client is received upstream, written to it
// is sent downstream.
type countingListener struct {
	net.Listener
	p *proxy
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.p.countConnection()
	return &countingConn{Conn: c, p: l.p, in: upstream, out: downstream}, nil
}

// countingDial wraps an HTTP proxy's upstream dial so that its connections
// count their bytes: written to the upstream is sent upstream, read from it
// is received downstream.
func (p *proxy) countingDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, p: p, in: downstream, out: upstream}, nil
	}
}

// Gauges read from the server's proxies at scrape time.
var (
	descProxyInfo = prometheus.NewDesc("holdfast_chaos_proxy_info",
		"Always 1; the labels tell where the proxy listens, its upstream and its protocol.",
		[]string{"proxy", "listen", "upstream", "protocol"}, nil)
	descProxyEnabled = prometheus.NewDesc("holdfast_chaos_proxy_enabled",
		"1 while the proxy is enabled (listening), 0 while disabled.", []string{"proxy"}, nil)
	descActive = prometheus.NewDesc("holdfast_chaos_proxy_connections_active",
		"Client connections of a TCP proxy open now, piped to the upstream or held by a blackhole.", []string{"proxy"}, nil)
	descToxicity = prometheus.NewDesc("holdfast_chaos_toxic_toxicity",
		"The toxicity of each toxic installed (the probability, 0 to 1, that it acts on a connection or request).",
		[]string{"proxy", "toxic", "type", "stream"}, nil)
)

// snapshotCollector exports the gauges of a [Server].
type snapshotCollector struct{ s *Server }

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descProxyInfo, descProxyEnabled, descActive, descToxicity} {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	ps := make([]*proxy, 0, len(c.s.proxies))
	for _, p := range c.s.proxies {
		ps = append(ps, p)
	}
	c.s.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range ps {
		spec := p.spec()
		gauge(descProxyInfo, 1, spec.Name, spec.Listen, spec.Upstream, spec.Protocol)
		gauge(descProxyEnabled, bool01(spec.Enabled), spec.Name)
		for _, t := range spec.Toxics {
			gauge(descToxicity, t.Toxicity, spec.Name, t.Name, t.Type, t.Stream)
		}
		if spec.Protocol != protoHTTP {
			p.mu.Lock()
			active := len(p.conns)
			p.mu.Unlock()
			gauge(descActive, float64(active), spec.Name)
		}
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
