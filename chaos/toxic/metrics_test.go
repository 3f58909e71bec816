package toxic

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// scrape gets GET /metrics over a real HTTP server in front of s, as
// Prometheus would.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: got %d %s; want 200 text/plain:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return string(b)
}

// value returns the value of series in an exposition body.
func value(body, series string) (string, bool) {
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v, true
		}
	}
	return "", false
}

func TestMetricsScrape(t *testing.T) {
	up, _ := echoUpstream(t)
	s := newTestServer(t, Config{})
	api := httptest.NewServer(s)
	t.Cleanup(api.Close)
	p, err := s.CreateProxy(ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: up, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddToxic("db", ToxicSpec{Name: "slow", Type: "latency", Stream: "downstream", Toxicity: 0.5, Attributes: []byte(`{"latency": 1}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProxy(ProxySpec{Name: "web", Listen: "127.0.0.1:0", Upstream: up, Protocol: "http", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	c := e2eDial(t, p.Listen)
	if !echoes(c, "hello") {
		t.Fatal("no echo through the proxy")
	}

	// The connection is registered once its upstream is dialled, which the
	// echo proves.
	body := scrape(t, api.URL)
	for _, tt := range []struct{ series, want string }{
		{`holdfast_chaos_proxy_info{listen="` + p.Listen + `",protocol="tcp",proxy="db",upstream="` + up + `"}`, "1"},
		{`holdfast_chaos_proxy_enabled{proxy="db"}`, "1"},
		{`holdfast_chaos_proxy_enabled{proxy="web"}`, "1"},
		{`holdfast_chaos_proxy_connections_active{proxy="db"}`, "1"},
		{`holdfast_chaos_toxic_toxicity{proxy="db",stream="downstream",toxic="slow",type="latency"}`, "0.5"},
		// Counters exist from the proxy's and the toxic's creation.
		{`holdfast_chaos_proxy_connections_total{proxy="web"}`, "0"},
		{`holdfast_chaos_proxy_received_bytes_total{direction="upstream",proxy="web"}`, "0"},
		{`holdfast_chaos_proxy_received_bytes_total{direction="downstream",proxy="web"}`, "0"},
		{`holdfast_chaos_proxy_sent_bytes_total{direction="upstream",proxy="web"}`, "0"},
		{`holdfast_chaos_proxy_sent_bytes_total{direction="downstream",proxy="web"}`, "0"},
		{`holdfast_chaos_toxic_applied_total{proxy="db",toxic="slow",type="latency"}`, ""},
	} {
		got, ok := value(body, tt.series)
		if !ok || (tt.want != "" && got != tt.want) {
			t.Errorf("%s: got %q (present %v); want %q", tt.series, got, ok, tt.want)
		}
	}
	if _, ok := value(body, `holdfast_chaos_proxy_connections_active{proxy="web"}`); ok {
		t.Errorf("an HTTP proxy has holdfast_chaos_proxy_connections_active; its connections are net/http's")
	}
	promtoolCheck(t, body)
	lintMetrics(t, s)

	// A removed toxic's series goes; so does a deleted proxy's, all of them.
	if err := s.RemoveToxic("db", "slow"); err != nil {
		t.Fatal(err)
	}
	if body := scrape(t, api.URL); strings.Contains(body, `toxic="slow"`) {
		t.Errorf("after RemoveToxic, /metrics still has toxic slow:\n%s", body)
	}
	if err := s.DeleteProxy("db"); err != nil {
		t.Fatal(err)
	}
	body = scrape(t, api.URL)
	if strings.Contains(body, `proxy="db"`) {
		t.Errorf("after DeleteProxy, /metrics still has proxy db:\n%s", body)
	}
	if _, ok := value(body, `holdfast_chaos_proxy_enabled{proxy="web"}`); !ok {
		t.Errorf("after deleting db, proxy web is gone from /metrics too")
	}
}

// TestMetricsCounts checks the counters the data path adds to, and that a
// proxy deleted while a connection of it is still open does not come back
// when that connection counts.
func TestMetricsCounts(t *testing.T) {
	up, _ := echoUpstream(t)
	s := newTestServer(t, Config{})
	api := httptest.NewServer(s)
	t.Cleanup(api.Close)
	if _, err := s.CreateProxy(ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: up, Enabled: true,
		Toxics: []ToxicSpec{{Name: "cut", Type: "limit_data", Stream: "upstream", Toxicity: 1, Attributes: []byte(`{"bytes": 100}`)}}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.get("db")
	if err != nil {
		t.Fatal(err)
	}
	p.countConnection()
	p.countReceived(upstream, 120)
	p.countSent(upstream, 100)
	p.countReceived(downstream, 100)
	p.countSent(downstream, 100)

	for _, e := range p.snap.Load().dirs[upstream] {
		p.countApplied(e)
	}
	body := scrape(t, api.URL)
	for _, tt := range []struct{ series, want string }{
		{`holdfast_chaos_proxy_connections_total{proxy="db"}`, "1"},
		{`holdfast_chaos_proxy_received_bytes_total{direction="upstream",proxy="db"}`, "120"},
		{`holdfast_chaos_proxy_sent_bytes_total{direction="upstream",proxy="db"}`, "100"},
		{`holdfast_chaos_proxy_received_bytes_total{direction="downstream",proxy="db"}`, "100"},
		{`holdfast_chaos_proxy_sent_bytes_total{direction="downstream",proxy="db"}`, "100"},
		{`holdfast_chaos_toxic_applied_total{proxy="db",toxic="cut",type="limit_data"}`, "1"},
	} {
		if got, ok := value(body, tt.series); !ok || got != tt.want {
			t.Errorf("%s: got %q (present %v); want %s", tt.series, got, ok, tt.want)
		}
	}
	if err := s.DeleteProxy("db"); err != nil {
		t.Fatal(err)
	}
	p.countConnection()
	p.countReceived(upstream, 1)
	if body := scrape(t, api.URL); strings.Contains(body, `proxy="db"`) {
		t.Errorf("counts after DeleteProxy brought proxy db back:\n%s", body)
	}
	// A new proxy of the same name starts from 0.
	if _, err := s.CreateProxy(ProxySpec{Name: "db", Listen: "127.0.0.1:0", Upstream: up, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := value(scrape(t, api.URL), `holdfast_chaos_proxy_received_bytes_total{direction="upstream",proxy="db"}`); got != "0" {
		t.Errorf("a new proxy db: received bytes %q; want 0", got)
	}
}

// promtoolCheck runs Prometheus's own checker on an exposition body. The
// Makefile's tools target installs promtool (Debian package prometheus).
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run make tools (Debian package prometheus)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func lintMetrics(t *testing.T, s *Server) {
	t.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestCountingConns checks the wrappers an HTTP proxy's connections count
// through, over a real HTTP exchange: the client side counts received
// upstream and sent downstream, the upstream side the reverse.
func TestCountingConns(t *testing.T) {
	up, _ := echoUpstream(t)
	s := newTestServer(t, Config{})
	if _, err := s.CreateProxy(ProxySpec{Name: "web", Listen: "127.0.0.1:0", Upstream: up, Protocol: "http", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p, err := s.get("web")
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") }))
	t.Cleanup(backend.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: p.countingDial((&net.Dialer{}).DialContext)}
	t.Cleanup(tr.CloseIdleConnections)
	front := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := tr.RoundTrip(httptest.NewRequest("GET", backend.URL, nil).WithContext(r.Context()))
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})}
	go front.Serve(countingListener{Listener: ln, p: p})
	t.Cleanup(func() { front.Close() })

	resp, err := http.Get("http://" + ln.Addr().String() + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	front.Close() // the server's writes are done once it has closed

	pc := s.metrics.counters(p)
	for _, tt := range []struct {
		name string
		c    prometheus.Counter
	}{
		{"received upstream (from the client)", pc.received[upstream]},
		{"sent downstream (to the client)", pc.sent[downstream]},
		{"sent upstream (to the backend)", pc.sent[upstream]},
		{"received downstream (from the backend)", pc.received[downstream]},
	} {
		if got := counterValue(tt.c); got <= 0 {
			t.Errorf("%s: got %g bytes; want some", tt.name, got)
		}
	}
	if got := counterValue(pc.connections); got != 1 {
		t.Errorf("connections: got %g; want 1", got)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
