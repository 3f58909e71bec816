package toxic

import (
	"context"
	"errors"
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
// path adds to counters resolved once (a proxy's at its creation, a
// toxic's before it is published), never looking them up per read or
// write; a connection still open after its proxy is deleted counts into
// counters no longer exported, never bringing the series back.
type metrics struct {
	reg         *prometheus.Registry
	received    *prometheus.CounterVec // proxy, direction
	sent        *prometheus.CounterVec // proxy, direction
	connections *prometheus.CounterVec // proxy
	applied     *prometheus.CounterVec // proxy, toxic, type
}

// proxyCounters are one proxy's counters, resolved from the vectors when
// the proxy is created. The byte and connection counters are read without
// a lock: they never change.
type proxyCounters struct {
	m           *metrics
	name        string
	received    [2]prometheus.Counter // by direction
	sent        [2]prometheus.Counter
	connections prometheus.Counter

	// mu guards gone and applied.
	mu      sync.Mutex
	gone    bool // forgotten: nothing is exported for the proxy any more
	applied map[toxicKey]prometheus.Counter
}

// toxicKey names a toxic's applied series: a toxic replaced by one of the
// same name and another type gets a series of its own.
type toxicKey struct{ name, typ string }

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
			"Times a toxic's toxicity roll hit: once per connection (TCP toxics, again when an update re-rolls it) or per request (HTTP toxics).",
			"proxy", "toxic", "type"),
	}
	m.reg.MustRegister(m.received, m.sent, m.connections, m.applied, &snapshotCollector{s: s})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// proxy creates the counters of a new proxy called name, at 0. No other
// live proxy may have that name: its series are the same.
func (m *metrics) proxy(name string) *proxyCounters {
	pc := &proxyCounters{m: m, name: name, applied: map[toxicKey]prometheus.Counter{}}
	for _, d := range directions {
		pc.received[d] = m.received.WithLabelValues(name, d.String())
		pc.sent[d] = m.sent.WithLabelValues(name, d.String())
	}
	pc.connections = m.connections.WithLabelValues(name)
	return pc
}

// toxics gives each entry not yet published its applied counter and
// deletes the series of toxics no longer among entries. The caller holds
// the proxy's tmu and publishes entries next: an entry's counter is set
// before any connection can see the entry, and never after.
func (pc *proxyCounters) toxics(entries []*entry) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.gone {
		return // entries stay uncounted: nothing of the proxy is exported
	}
	have := make(map[toxicKey]bool, len(entries))
	for _, e := range entries {
		k := toxicKey{e.name, e.kind.name}
		have[k] = true
		c := pc.applied[k]
		if c == nil {
			c = pc.m.applied.WithLabelValues(pc.name, k.name, k.typ)
			pc.applied[k] = c
		}
		if e.applied == nil {
			e.applied = c
		}
	}
	for k := range pc.applied {
		if !have[k] {
			pc.m.applied.DeleteLabelValues(pc.name, k.name, k.typ)
			delete(pc.applied, k)
		}
	}
}

// forget deletes the proxy's series; the proxy is gone. Counting into its
// counters afterwards exports nothing. It is idempotent.
func (pc *proxyCounters) forget() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.gone {
		return
	}
	pc.gone = true
	pc.applied = nil
	labels := prometheus.Labels{"proxy": pc.name}
	pc.m.received.DeletePartialMatch(labels)
	pc.m.sent.DeletePartialMatch(labels)
	pc.m.connections.DeletePartialMatch(labels)
	pc.m.applied.DeletePartialMatch(labels)
}

// countApplied counts a connection or request that e acts on: its
// toxicity roll hit.
func (e *entry) countApplied() {
	if e.applied != nil {
		e.applied.Inc()
	}
}

// countingConn counts a connection's bytes as they are read (into in) and
// written (into out). An HTTP proxy's connections count through it
// (countingListener, countingDial), and so does a blackholed one; a TCP
// proxy's links count where they read and write.
type countingConn struct {
	net.Conn
	in, out prometheus.Counter
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.in.Add(float64(n))
	}
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.out.Add(float64(n))
	}
	return n, err
}

// CloseWrite shuts the write side, where the connection can: net/http's
// server does before it closes a connection whose request it did not read
// to the end, so that the client gets the answer rather than a reset.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// countingListener counts each client connection an HTTP proxy accepts,
// and its bytes: read from the client is received upstream, written to it
// is sent downstream.
type countingListener struct {
	net.Listener
	pc *proxyCounters
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.pc.connections.Inc()
	return &countingConn{Conn: c, in: l.pc.received[upstream], out: l.pc.sent[downstream]}, nil
}

// countingDial wraps an HTTP proxy's upstream dial so that its connections
// count their bytes: written to the upstream is sent upstream, read from it
// is received downstream.
func (pc *proxyCounters) countingDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, in: pc.received[downstream], out: pc.sent[upstream]}, nil
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
