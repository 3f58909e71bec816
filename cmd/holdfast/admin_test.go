package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// serveEnv is an instance as `holdfast serve` starts it, in-process, with
// its config in a file that tests rewrite and reload.
type serveEnv struct {
	t     *testing.T
	inst  *instance
	file  string
	dir   string
	data  string // data plane base URL
	admin string // admin base URL
}

const serveConfig = `listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_file: %[2]s}
access_log: {enabled: true, path: %[3]s}
upstreams:
  api:
    endpoints: [{address: %[1]s}]
routes:
  - name: api
    match: {path_prefix: /api}
    upstream: api
%[4]s`

func startServe(t *testing.T) (*serveEnv, *testkit.Backend) {
	t.Helper()
	b := testkit.Start(t, testkit.Config{Name: "api"})
	dir := t.TempDir()
	e := &serveEnv{t: t, dir: dir, file: filepath.Join(dir, "holdfast.yaml")}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.write(b.URL(), "access.log", "")
	cfg, err := config.Load(e.file)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	inst, err := startInstance(cfg, e.file, logger, io.Discard)
	if err != nil {
		t.Fatalf("startInstance: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- inst.server.Serve() }()
	t.Cleanup(func() {
		inst.server.Shutdown(context.Background())
		<-served
		inst.close()
	})
	e.inst = inst
	e.data = "http://" + inst.server.Addrs()[0].String()
	e.admin = "http://" + inst.adminAddr()
	return e, b
}

func (e *serveEnv) write(backend, accessLog, extraRoutes string) {
	e.t.Helper()
	body := fmt.Sprintf(serveConfig, backend, filepath.Join(e.dir, "token"), filepath.Join(e.dir, accessLog), extraRoutes)
	if err := os.WriteFile(e.file, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *serveEnv) do(method, url, token string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *serveEnv) lines(name string) []string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, name))
	if err != nil {
		e.t.Fatalf("reading %s: %v", name, err)
	}
	return strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' })
}

// TestServeRunsAdmin checks what `holdfast serve` wires up: the admin
// server on the configured address, metrics fed by the proxy, the access
// log, POST /reload re-reading the file behind the token, and readiness
// failing once draining starts.
func TestServeRunsAdmin(t *testing.T) {
	e, b := startServe(t)

	if status, _ := e.do("GET", e.data+"/api/items", ""); status != 200 {
		t.Fatalf("GET /api/items: got status %d; want 200", status)
	}
	// The proxy reports a request just after answering it, so the client
	// may read the answer first: wait until the request shows in the
	// metrics, which telemetry updates after writing the log line.
	waitMetric(t, e, `holdfast_route_requests_total{code_class="2xx",route="api"} 1`)
	lines := e.lines("access.log")
	if len(lines) != 1 {
		t.Fatalf("access.log: got %d lines; want 1: %q", len(lines), lines)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["route"] != "api" || line["upstream"] != "api" || line["status"] != 200.0 || line["endpoint"] != strings.TrimPrefix(b.URL(), "http://") {
		t.Errorf("access log line: got %v", line)
	}

	// Reload: a new route and a new access log file.
	e.write(b.URL(), "access2.log", "  - name: more\n    match: {path_prefix: /more}\n    upstream: api\n")
	if status, _ := e.do("POST", e.admin+"/reload", ""); status != 401 {
		t.Errorf("POST /reload without the token: got status %d; want 401", status)
	}
	if status, _ := e.do("POST", e.admin+"/reload", "wrong"); status != 401 {
		t.Errorf("POST /reload with a wrong token: got status %d; want 401", status)
	}
	if got := len(e.inst.proxy.Config().Routes); got != 1 {
		t.Fatalf("refused reloads changed the config: got %d routes; want 1", got)
	}
	if status, body := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 200 {
		t.Fatalf("POST /reload with the token: got status %d; want 200: %s", status, body)
	}
	if status, _ := e.do("GET", e.data+"/more/x", ""); status != 200 {
		t.Errorf("GET /more after the reload: got status %d; want 200", status)
	}
	waitMetric(t, e, `holdfast_route_requests_total{code_class="2xx",route="more"} 1`)
	if got := len(e.lines("access2.log")); got != 1 {
		t.Errorf("access2.log after the reload: got %d lines; want 1", got)
	}
	if got := len(e.lines("access.log")); got != 1 {
		t.Errorf("access.log after the reload: got %d lines; want still 1", got)
	}

	// A broken file is refused; the running config keeps serving.
	if err := os.WriteFile(e.file, []byte("routes: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, body := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 422 || !strings.Contains(body, "invalid YAML") {
		t.Errorf("POST /reload of a broken file: got %d %s; want 422 invalid YAML", status, body)
	}
	if status, _ := e.do("GET", e.data+"/more/y", ""); status != 200 {
		t.Errorf("GET /more after a refused reload: got status %d; want 200", status)
	}

	if status, _ := e.do("GET", e.admin+"/readyz", ""); status != 200 {
		t.Errorf("GET /readyz: got status %d; want 200", status)
	}
	e.inst.admin.SetDraining()
	if status, _ := e.do("GET", e.admin+"/readyz", ""); status != 503 {
		t.Errorf("GET /readyz while draining: got status %d; want 503", status)
	}
}

// waitMetric polls /metrics until it has line. Each poll is a request to
// the admin server, not a sleep; the proxy reports a request right after
// answering it, so this ends after a poll or two.
func waitMetric(t *testing.T, e *serveEnv, line string) {
	t.Helper()
	for i := 0; ; i++ {
		_, body := e.do("GET", e.admin+"/metrics", "")
		if strings.Contains(body, line) {
			return
		}
		if i == 10000 {
			t.Fatalf("/metrics never showed %s:\n%s", line, body)
		}
	}
}

// metricLine returns the value of the exposition line that starts with
// series (name and labels, as the text format spells them), and whether
// there is one.
func metricLine(body, series string) (string, bool) {
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v, true
		}
	}
	return "", false
}

// TestServeConfigMetrics checks the metrics `holdfast serve` keeps about
// itself: the build, the running config's hash, reloads by result and the
// last good load's time; and that a fresh route's series are there at 0 and
// a reload that drops a route takes its series away.
func TestServeConfigMetrics(t *testing.T) {
	e, b := startServe(t)
	hashOf := func() string {
		data, err := os.ReadFile(e.file)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:])[:12]
	}
	_, body := e.do("GET", e.admin+"/metrics", "")
	for _, tt := range []struct{ series, want string }{
		{`holdfast_route_requests_total{code_class="5xx",route="api"}`, "0"},
		{`holdfast_route_local_replies_total{reason="no_healthy_upstream",route="api"}`, "0"},
		{`holdfast_config_info{sha256="` + hashOf() + `"}`, "1"},
		{`holdfast_config_reloads_total{result="success"}`, "0"},
		{`holdfast_config_reloads_total{result="failure"}`, "0"},
		{`holdfast_config_last_reload_successful`, "1"},
		{`holdfast_build_info{goversion="` + runtime.Version() + `",revision="` + buildRevision() + `",version="` + buildVersion() + `"}`, "1"},
	} {
		if got, ok := metricLine(body, tt.series); !ok || got != tt.want {
			t.Errorf("%s: got %q (present %v); want %s", tt.series, got, ok, tt.want)
		}
	}
	started, ok := metricLine(body, "holdfast_config_last_reload_success_timestamp_seconds")
	if v, err := strconv.ParseFloat(started, 64); !ok || err != nil || v < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("holdfast_config_last_reload_success_timestamp_seconds: got %q; want the start time", started)
	}

	// A reload adds route more; its series are there at once, at 0.
	e.write(b.URL(), "access.log", "  - name: more\n    match: {path_prefix: /more}\n    upstream: api\n")
	if status, body := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 200 {
		t.Fatalf("POST /reload: got %d %s", status, body)
	}
	_, body = e.do("GET", e.admin+"/metrics", "")
	for _, tt := range []struct{ series, want string }{
		{`holdfast_route_requests_total{code_class="5xx",route="more"}`, "0"},
		{`holdfast_config_info{sha256="` + hashOf() + `"}`, "1"},
		{`holdfast_config_reloads_total{result="success"}`, "1"},
	} {
		if got, ok := metricLine(body, tt.series); !ok || got != tt.want {
			t.Errorf("after the reload: %s: got %q (present %v); want %s", tt.series, got, ok, tt.want)
		}
	}
	if status, _ := e.do("GET", e.data+"/more/x", ""); status != 200 {
		t.Fatalf("GET /more/x: got %d; want 200", status)
	}
	waitMetric(t, e, `holdfast_route_requests_total{code_class="2xx",route="more"} 1`)

	// A reload that drops route more takes its series away; one that fails
	// counts as a failure and keeps the running config's hash.
	e.write(b.URL(), "access.log", "")
	want := hashOf()
	if status, body := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 200 {
		t.Fatalf("POST /reload: got %d %s", status, body)
	}
	if err := os.WriteFile(e.file, []byte("routes: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 422 {
		t.Fatalf("POST /reload of a broken file: got %d; want 422", status)
	}
	_, body = e.do("GET", e.admin+"/metrics", "")
	if strings.Contains(body, `route="more"`) {
		t.Errorf("after the reload that dropped route more, /metrics still has its series:\n%s", grepLines(body, `route="more"`))
	}
	for _, tt := range []struct{ series, want string }{
		{`holdfast_config_info{sha256="` + want + `"}`, "1"},
		{`holdfast_config_reloads_total{result="success"}`, "2"},
		{`holdfast_config_reloads_total{result="failure"}`, "1"},
		{`holdfast_config_last_reload_successful`, "0"},
	} {
		if got, ok := metricLine(body, tt.series); !ok || got != tt.want {
			t.Errorf("after the failed reload: %s: got %q (present %v); want %s", tt.series, got, ok, tt.want)
		}
	}
	if n := strings.Count(body, "holdfast_config_info{"); n != 1 {
		t.Errorf("got %d holdfast_config_info series; want 1, the running config's", n)
	}
}

func grepLines(body, s string) string {
	var out []string
	for line := range strings.Lines(body) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

// TestPrometheusSeesFirstFailures is the check with a real
// Prometheus: it scrapes a running `holdfast serve` every second, the fresh
// route's first 20 requests fail, and increase() over them must be above 0.
// Before holdfast created the 5xx series at 0, the series was born at 20
// and increase() said 0, so no alert fired. The scrape also passes
// `promtool check metrics`. It runs on real time: Prometheus scrapes by
// the wall clock; the bounds only catch a test that would otherwise hang.
func TestPrometheusSeesFirstFailures(t *testing.T) {
	prometheusBin := lookTool(t, "prometheus")
	promtool := lookTool(t, "promtool")
	e, b := startServe(t)
	b.Fail(500)

	_, body := e.do("GET", e.admin+"/metrics", "")
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	dir := t.TempDir()
	admin := strings.TrimPrefix(e.admin, "http://")
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, fmt.Appendf(nil, `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: holdfast
    static_configs: [{targets: ["%s"]}]
`, admin), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	var promOut bytes.Buffer
	prom := exec.Command(prometheusBin,
		"--config.file="+promCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr,
	)
	prom.Stdout, prom.Stderr = &promOut, &promOut
	if err := prom.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", promOut.String())
		}
	})

	const series = `holdfast_route_requests_total{route="api",code_class="5xx"}`
	deadline := time.Now().Add(45 * time.Second)
	until := func(what, q string, ok func([]promSample) bool) []promSample {
		t.Helper()
		return promUntil(t, promAddr, deadline, what, q, ok)
	}
	// A scrape from before the failures.
	until("a scrape", `up{job="holdfast"}`, func(s []promSample) bool { return len(s) == 1 && s[0].value == 1 })
	if got, err := promQuery(promAddr, series); err != nil || len(got) != 1 || got[0].value != 0 {
		t.Errorf("%s before any request: got %v, %v; want one series at 0", series, got, err)
	}
	for i := range 20 {
		if status, _ := e.do("GET", e.data+"/api/fail", ""); status != 500 {
			t.Fatalf("request %d: got status %d; want the backend's 500", i, status)
		}
	}
	until("the 20 failures", series, func(s []promSample) bool { return len(s) == 1 && s[0].value == 20 })
	got := until("an increase", "increase("+series+"[1m])", func(s []promSample) bool { return len(s) == 1 })
	if got[0].value <= 0 {
		t.Errorf("increase(%s[1m]) after 20 failures: got %g; want > 0", series, got[0].value)
	}
}

// lookTool returns the path of bin, which the Makefile's tools target
// installs (Debian package prometheus has both prometheus and promtool).
func lookTool(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s is not installed: run make tools (Debian package prometheus)", bin)
	}
	return p
}

type promSample struct {
	labels map[string]string
	value  float64
}

// promUntil polls the Prometheus at addr with query q until ok accepts its
// result, and fails the test at deadline.
func promUntil(t *testing.T, addr string, deadline time.Time, what, q string, ok func([]promSample) bool) []promSample {
	t.Helper()
	for {
		got, err := promQuery(addr, q)
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never saw %s: %s gave %v, %v", what, q, got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// promQuery runs an instant query against Prometheus's HTTP API.
func promQuery(addr, q string) ([]promSample, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, err
	}
	if answer.Status != "success" {
		return nil, fmt.Errorf("query %s: %s %s", q, answer.Status, answer.Error)
	}
	var out []promSample
	for _, r := range answer.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %v", q, r.Value[1], err)
		}
		out = append(out, promSample{labels: r.Metric, value: v})
	}
	return out, nil
}
