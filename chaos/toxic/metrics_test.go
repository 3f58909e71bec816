package toxic

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
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
