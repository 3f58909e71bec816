package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/holdfastprom"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// dashboardFile is the Grafana dashboard that examples/grafana ships.
const dashboardFile = "../../examples/grafana/holdfast.json"

// The dashboard's JSON, as far as the tests read it. Grafana keeps many
// more keys; these are the ones that decide whether a panel can show data.
type (
	dashboard struct {
		UID           string      `json:"uid"`
		Title         string      `json:"title"`
		SchemaVersion int         `json:"schemaVersion"`
		Panels        []dashPanel `json:"panels"`
		Templating    struct {
			List []dashVar `json:"list"`
		} `json:"templating"`
		Annotations struct {
			List []dashAnnotation `json:"list"`
		} `json:"annotations"`
	}
	dsRef struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	gridPos   struct{ X, Y, W, H int }
	dashPanel struct {
		ID         int          `json:"id"`
		Type       string       `json:"type"`
		Title      string       `json:"title"`
		Datasource *dsRef       `json:"datasource"`
		GridPos    *gridPos     `json:"gridPos"`
		Targets    []dashTarget `json:"targets"`
		Panels     []dashPanel  `json:"panels"` // a collapsed row's
	}
	dashTarget struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *dsRef `json:"datasource"`
	}
	dashVar struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Query      any    `json:"query"`
		Datasource *dsRef `json:"datasource"`
		IncludeAll bool   `json:"includeAll"`
		Multi      bool   `json:"multi"`
		AllValue   string `json:"allValue"`
		Current    struct {
			Value any `json:"value"`
		} `json:"current"`
		Options []struct {
			Value string `json:"value"`
		} `json:"options"`
	}
	dashAnnotation struct {
		Name       string `json:"name"`
		BuiltIn    int    `json:"builtIn"`
		Datasource *dsRef `json:"datasource"`
		Expr       string `json:"expr"`
	}
)

// promDS is how every panel, target and query variable names its data
// source: the dashboard's datasource variable, so that one import works
// with whatever the Prometheus data source is called.
var promDS = dsRef{Type: "prometheus", UID: "${datasource}"}

func (r *dsRef) String() string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("{type %q, uid %q}", r.Type, r.UID)
}

// dashboardRows are the rows the dashboard must have, in this order: the
// golden signals, then what the resilience policies did.
var dashboardRows = []string{"Traffic", "Errors", "Latency", "Saturation", "Resilience"}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// panels returns every panel, those inside collapsed rows included.
func (d *dashboard) panels() []dashPanel {
	var out []dashPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// varRef matches a use of a dashboard variable in the forms Grafana
// accepts: $name, ${name}, ${name:format} and [[name]].
var varRef = regexp.MustCompile(`\$\{(\w+)(?::([^}]*))?\}|\$(\w+)|\[\[(\w+)(?::([^\]]*))?\]\]`)

// builtinVars are the values the tests give Grafana's built-in variables.
// $__rate_interval is what Grafana would pick for a 1s scrape interval over
// a short range, made longer so that each rate() sees the whole test.
var builtinVars = map[string]string{
	"__rate_interval": "15s",
	"__interval":      "15s",
}

// selectorRules say which filter every selector of a family of metrics must
// carry, so that each panel follows the route and upstream pickers.
var selectorRules = []struct {
	prefix, filter string
}{
	{"holdfast_route_", `route=~"$route"`},
	{"holdfast_upstream_", `upstream=~"$upstream"`},
	{"holdfast_endpoint_", `upstream=~"$upstream"`},
}

var selector = regexp.MustCompile(`\b(holdfast_[a-z_]+)(\{[^}]*\})?`)

// TestDashboardShape checks the dashboard's JSON as Grafana 10 and 11 import
// it: a Prometheus datasource variable that every panel, target and query
// variable uses; route and upstream variables from label_values; unique
// panel ids; grid positions inside the 24 columns that do not overlap; the
// rows; every variable a query uses defined; every selector of a route,
// upstream or endpoint metric filtered by the matching variable.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" || len(d.UID) > 40 {
		t.Errorf("title %q, uid %q: want both set, the uid at most 40 characters (Grafana's limit)", d.Title, d.UID)
	}
	// 39 is what Grafana 10.3 to 11 write; older ones read it unmigrated.
	if d.SchemaVersion < 38 {
		t.Errorf("schemaVersion %d; want at least 38 (Grafana 10)", d.SchemaVersion)
	}

	vars := map[string]dashVar{}
	for _, v := range d.Templating.List {
		if _, dup := vars[v.Name]; dup {
			t.Errorf("variable %q defined twice", v.Name)
		}
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || v.Query != "prometheus" {
		t.Errorf("variable datasource: got %+v; want type datasource, query prometheus", v)
	}
	for _, tt := range []struct{ name, label string }{{"route", "route"}, {"upstream", "upstream"}} {
		v, ok := vars[tt.name]
		if !ok {
			t.Errorf("no variable %q", tt.name)
			continue
		}
		q, _ := v.Query.(string)
		_, label, ok := parseLabelValues(q)
		if v.Type != "query" || !ok || label != tt.label || v.Datasource == nil || *v.Datasource != promDS || !v.Multi || !v.IncludeAll {
			t.Errorf("variable %s: got type %q, query %q, datasource %s, multi %v, includeAll %v; want a multi-value query label_values(..., %s) on %s with All",
				tt.name, v.Type, q, v.Datasource, v.Multi, v.IncludeAll, tt.label, &promDS)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "custom" {
			continue
		}
		// A latency objective must be a bucket bound to be read exactly.
		for _, o := range v.Options {
			f, err := strconv.ParseFloat(o.Value, 64)
			if err != nil || !slices.Contains(holdfastprom.DurationBuckets, f) || !strings.Contains(o.Value, ".") {
				t.Errorf("variable %s: option %q is not a bound of holdfastprom.DurationBuckets written with a decimal point (Prometheus 3 writes le=\"1.0\" for 1)", v.Name, o.Value)
			}
		}
	}

	checkVars := func(where, s string) {
		for _, m := range varRef.FindAllStringSubmatch(s, -1) {
			name := m[1] + m[3] + m[4]
			if _, ok := vars[name]; !ok && builtinVars[name] == "" {
				t.Errorf("%s: uses $%s, which the dashboard does not define", where, name)
			}
			if m[2] != "" || m[5] != "" {
				t.Errorf("%s: uses a variable format (%s); the query test does not apply formats", where, m[0])
			}
		}
	}

	ids := map[int]string{}
	var rows []string
	var placed []dashPanel
	for i, p := range d.panels() {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: id %d; want a positive id", where, p.ID)
		} else if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id %d is also panel %q's", where, p.ID, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		checkVars(where+" title", p.Title)
		g := p.GridPos
		if g == nil || g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v; want w, h ≥ 1 inside the 24 columns", where, g)
			continue
		}
		for _, q := range placed {
			r := q.GridPos
			if g.X < r.X+r.W && r.X < g.X+g.W && g.Y < r.Y+r.H && r.Y < g.Y+g.H {
				t.Errorf("%s at %+v overlaps panel %d %q at %+v", where, *g, q.ID, q.Title, *r)
			}
		}
		placed = append(placed, p)
		if p.Type == "row" {
			rows = append(rows, p.Title)
			if len(p.Targets) > 0 {
				t.Errorf("%s: a row with queries", where)
			}
			continue
		}
		if i == 0 {
			t.Errorf("%s comes before the first row", where)
		}
		if p.Datasource == nil || *p.Datasource != promDS {
			t.Errorf("%s: datasource %s; want %s", where, p.Datasource, &promDS)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource == nil || *tg.Datasource != promDS {
				t.Errorf("%s target %s: datasource %s; want %s", where, tg.RefID, tg.Datasource, &promDS)
			}
			checkExpr(t, fmt.Sprintf("%s target %s", where, tg.RefID), tg.Expr, checkVars)
		}
	}
	var want []string
	for _, r := range rows {
		if slices.Contains(dashboardRows, r) {
			want = append(want, r)
		}
	}
	if !slices.Equal(want, dashboardRows) {
		t.Errorf("rows %q; want %q among them, in that order", rows, dashboardRows)
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn != 0 {
			continue
		}
		if a.Datasource == nil || *a.Datasource != promDS {
			t.Errorf("annotation %q: datasource %s; want %s", a.Name, a.Datasource, &promDS)
		}
		checkExpr(t, fmt.Sprintf("annotation %q", a.Name), a.Expr, checkVars)
	}
}

// checkExpr checks one query: not empty, its variables defined, and every
// selector of a route, upstream or endpoint metric filtered by its variable.
func checkExpr(t *testing.T, where, expr string, checkVars func(where, s string)) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty query", where)
		return
	}
	checkVars(where, expr)
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		for _, r := range selectorRules {
			if strings.HasPrefix(m[1], r.prefix) && !strings.Contains(m[2], r.filter) {
				t.Errorf("%s: %s%s lacks %s: %s", where, m[1], m[2], r.filter, expr)
			}
		}
	}
}

// labelValuesQuery is the label_values(metric, label) form of a query
// variable (Grafana's own pattern for it, with the metric required).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)\s*$`)

func parseLabelValues(q string) (metric, label string, ok bool) {
	m := labelValuesQuery.FindStringSubmatch(q)
	if m == nil {
		return "", "", false
	}
	return strings.TrimSpace(m[1]), m[2], true
}

// dashboardConfig has two routes and two upstreams: api, with a fixed
// concurrency limit and queue, a circuit breaker, outlier detection, retries
// on 5xx and a fallback for an open breaker; slow, with an adaptive limit
// and a route with a hedge and a rate limit. Requests to other paths match
// no route.
const dashboardConfig = `listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
upstreams:
  api:
    endpoints: [{address: %[1]s}, {address: %[2]s}]
    circuit_breaker: {failure_rate: 0.5, window: 5s, minimum_requests: 10, open_duration: 2s, half_open_requests: 1}
    concurrency: {limit: 2, queue: 32, queue_timeout: 2s}
    outlier_detection: {consecutive_failures: 3, base_ejection_time: 3s, max_ejection_percent: 50}
  slow:
    endpoints: [{address: %[3]s}, {address: %[4]s}]
    concurrency: {adaptive: {min: 2, max: 50}}
routes:
  - name: api
    match: {path_prefix: /api}
    upstream: api
    timeout: 5s
    retry: {attempts: 2, retry_on: [5xx]}
    fallback: {status: 200, body: fallback, on: [breaker_open]}
  - name: slow
    match: {path_prefix: /slow}
    upstream: slow
    timeout: 5s
    hedge: {delay: 60ms, max_extra: 1, budget_percent: 50}
    rate_limit: {requests_per_second: 20, burst: 10}
`

// TestDashboardQueries runs every panel's queries, with the dashboard's
// variables substituted as Grafana would, against a real Prometheus that
// scrapes a running `holdfast serve` every second, and fails for any query
// that does not parse or returns no series with a number in it (a panel
// that would show "No data" or only NaN). The traffic has failures (a
// backend that answers 500 to a quarter of requests, then to all of them
// until the breaker opens and an endpoint is ejected), slow answers that
// hedges chase, queueing at a concurrency limit, rate limiting and
// unmatched requests; the annotations are run as Grafana runs them, as
// range queries over the test. Every holdfast_ metric on /metrics must be on
// some panel. Like TestPrometheusSeesFirstFailures it runs on real time,
// and its phases end on what Prometheus has seen, not after set durations;
// the deadline only catches a test that would otherwise hang.
func TestDashboardQueries(t *testing.T) {
	d := loadDashboard(t)
	promtool := lookTool(t, "promtool")
	flaky := testkit.Start(t, testkit.Config{Name: "flaky"})
	steady := testkit.Start(t, testkit.Config{Name: "steady"})
	slowA := testkit.Start(t, testkit.Config{Name: "slow-a"})
	slowB := testkit.Start(t, testkit.Config{Name: "slow-b"})
	normal := func() {
		flaky.FailPercent(25, 500)
		steady.Slow(15 * time.Millisecond)
	}
	normal()
	slowA.Slow(40 * time.Millisecond)
	slowB.SlowTail(30, 150*time.Millisecond)

	e := startServeConfig(t, fmt.Sprintf(dashboardConfig, flaky.URL(), steady.URL(), slowA.URL(), slowB.URL()))
	promAddr := startPrometheus(t, strings.TrimPrefix(e.admin, "http://"))
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	// until polls the query q until it returns a series.
	until := func(what, q string) {
		t.Helper()
		for {
			got, err := promQuery(promAddr, q)
			if err == nil && len(got) > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus never saw %s: %s gave %v, %v", what, q, got, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	until("a scrape", `up{job="holdfast"} == 1`)

	stop := driveDashboardTraffic(t, e.data)
	defer stop()
	until("queueing", `holdfast_upstream_queue_wait_seconds_count{upstream="api"} > 0`)
	until("retries", `holdfast_upstream_retries_total{upstream="api"} > 0`)
	until("hedges", `holdfast_upstream_hedges_total{upstream="slow"} > 0`)
	until("rate limiting", `holdfast_route_rate_limited_total{route="slow"} > 0`)
	until("unmatched requests", `holdfast_route_requests_total{route="_unmatched", code_class="4xx"} > 0`)
	if status, body := e.do("POST", e.admin+"/reload", ""); status != 200 {
		t.Fatalf("POST /reload: got %d %s", status, body)
	}
	until("the reload", `holdfast_config_reloads_total{result="success"} > 0`)

	// Every endpoint of api fails: the breaker opens, one endpoint is
	// ejected (the other may not be: max_ejection_percent), and the
	// fallback answers for the open breaker.
	flaky.Fail(500)
	steady.Fail(500)
	until("the breaker open", `holdfast_upstream_breaker_state{upstream="api", state="open"} == 1`)
	until("an ejection", `holdfast_endpoint_ejected{upstream="api"} == 1`)
	until("a fallback", `holdfast_route_fallbacks_total{route="api", reason="breaker_open"} > 0`)
	normal()
	until("the breaker closed again", `holdfast_upstream_breaker_state{upstream="api", state="closed"} == 1`)
	stop()
	stopped := time.Now()
	until("a scrape after the traffic", fmt.Sprintf(`timestamp(up{job="holdfast"}) > %d`, stopped.Unix()+1))
	end := time.Now()

	_, body := e.do("GET", e.admin+"/metrics", "")
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	values := dashboardVarValues(t, d, promAddr, map[string][]string{
		"route":    {"_unmatched", "api", "slow"},
		"upstream": {"api", "slow"},
	})
	var exprs []string
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			q := substituteVars(t, tg.Expr, values)
			got, err := promQuery(promAddr, q)
			switch {
			case err != nil:
				t.Errorf("panel %q (id %d) target %s: %v", p.Title, p.ID, tg.RefID, err)
			case len(got) == 0:
				t.Errorf("panel %q (id %d) target %s: no series from %s", p.Title, p.ID, tg.RefID, q)
			case !slices.ContainsFunc(got, func(s promSample) bool { return !math.IsNaN(s.value) && !math.IsInf(s.value, 0) }):
				t.Errorf("panel %q (id %d) target %s: only NaN or Inf from %s: %v", p.Title, p.ID, tg.RefID, q, got)
			}
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn != 0 {
			continue
		}
		exprs = append(exprs, a.Expr)
		q := substituteVars(t, a.Expr, values)
		n, err := promQueryRange(promAddr, q, start, end, time.Second)
		if err != nil || n == 0 {
			t.Errorf("annotation %q: %s over the test gave %d series, %v; want some", a.Name, q, n, err)
		}
	}

	// Every holdfast metric is on the dashboard.
	all := strings.Join(exprs, "\n")
	for line := range strings.Lines(body) {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" || !strings.HasPrefix(f[2], "holdfast_") {
			continue
		}
		if !regexp.MustCompile(`\b` + f[2] + `(_bucket|_count|_sum)?\b`).MatchString(all) {
			t.Errorf("%s (%s) is on /metrics but on no panel of %s", f[2], f[3], dashboardFile)
		}
	}
}

// dashboardVarValues runs each query variable's label_values through
// Prometheus's label API, as Grafana does, checks that it gives want's
// values, and returns what each variable stands for with its current
// selection: for a multi-value variable set to All, every value,
// regex-escaped, joined as (a|b) (Grafana's formatting for Prometheus), or
// its allValue; for a custom variable, its current value.
func dashboardVarValues(t *testing.T, d *dashboard, promAddr string, want map[string][]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, v := range builtinVars {
		out[name] = v
	}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "query":
			q, _ := v.Query.(string)
			metric, label, ok := parseLabelValues(q)
			if !ok {
				t.Fatalf("variable %s: query %q is not label_values(metric, label)", v.Name, q)
			}
			got, err := promLabelValues(promAddr, label, metric)
			if err != nil {
				t.Fatalf("variable %s: %v", v.Name, err)
			}
			if w, ok := want[v.Name]; ok && !slices.Equal(got, w) {
				t.Errorf("variable %s: %s gave %q; want %q", v.Name, q, got, w)
			}
			if len(got) == 0 {
				t.Fatalf("variable %s: %s gave no values", v.Name, q)
			}
			if !isAll(v.Current.Value) {
				t.Errorf("variable %s: current %v; want All, which the test substitutes", v.Name, v.Current.Value)
			}
			if v.AllValue != "" {
				out[v.Name] = v.AllValue
				continue
			}
			esc := make([]string, len(got))
			for i, s := range got {
				// One backslash for the regex, doubled for the PromQL string.
				esc[i] = strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`)
			}
			out[v.Name] = "(" + strings.Join(esc, "|") + ")"
			if len(esc) == 1 {
				out[v.Name] = esc[0]
			}
		case "custom", "constant", "textbox":
			s, ok := v.Current.Value.(string)
			if !ok || s == "" {
				t.Fatalf("variable %s: current value %v; want one value", v.Name, v.Current.Value)
			}
			out[v.Name] = s
		}
	}
	return out
}

func isAll(v any) bool {
	switch v := v.(type) {
	case string:
		return v == "$__all"
	case []any:
		return len(v) == 1 && v[0] == "$__all"
	}
	return false
}

// substituteVars replaces every variable in q by its value in values; a
// variable without one fails the test.
func substituteVars(t *testing.T, q string, values map[string]string) string {
	t.Helper()
	return varRef.ReplaceAllStringFunc(q, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[3] + m[4]
		v, ok := values[name]
		if !ok {
			t.Errorf("%s: no value for $%s", q, name)
		}
		return v
	})
}

// driveDashboardTraffic sends requests until the returned stop is called
// (stop waits for them; calling it again does nothing), or for at most a
// minute: four clients on /api and two on /slow (which the rate limit
// partly refuses), paced, and one on a path no route matches.
func driveDashboardTraffic(t *testing.T, base string) (stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	loop := func(path string, every time.Duration) {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for range 10000 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("GET %s: %v", path, err)
				}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	for range 4 {
		wg.Add(1)
		go loop("/api/items", 10*time.Millisecond)
	}
	for range 2 {
		wg.Add(1)
		go loop("/slow/items", 20*time.Millisecond)
	}
	wg.Add(1)
	go loop("/nowhere", 100*time.Millisecond)
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
}

// startServeConfig starts `holdfast serve` in-process, like startServe, on
// the config body (with listen and admin.listen on port 0).
func startServeConfig(t *testing.T, body string) *serveEnv {
	t.Helper()
	dir := t.TempDir()
	e := &serveEnv{t: t, dir: dir, file: filepath.Join(dir, "holdfast.yaml")}
	if err := os.WriteFile(e.file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(e.file)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := startInstance(cfg, e.file, slog.New(slog.DiscardHandler), io.Discard)
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
	return e
}

// startPrometheus starts the prometheus binary on a free loopback port,
// scraping target (host:port, /metrics) as job holdfast every second, with
// its data in a temporary directory; it is killed when the test ends, and
// its output logged if the test failed. It returns Prometheus's address.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := lookTool(t, "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: holdfast
    static_configs: [{targets: ["%s"]}]
`, target), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	var out bytes.Buffer
	prom := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	prom.Stdout, prom.Stderr = &out, &out
	if err := prom.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	return addr
}

// promAnswer is the envelope of Prometheus's HTTP API answers.
type promAnswer[T any] struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   T      `json:"data"`
}

func promGet[T any](addr, path string, params url.Values) (T, error) {
	var a promAnswer[T]
	resp, err := http.Get("http://" + addr + path + "?" + params.Encode())
	if err != nil {
		return a.Data, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return a.Data, fmt.Errorf("%s: %v", path, err)
	}
	if a.Status != "success" {
		return a.Data, fmt.Errorf("%s %v: %s %s", path, params, a.Status, a.Error)
	}
	return a.Data, nil
}

// promQueryRange runs a range query, as Grafana runs a panel or an
// annotation over its time range, and returns how many series it gave.
func promQueryRange(addr, q string, start, end time.Time, step time.Duration) (int, error) {
	data, err := promGet[struct {
		Result []json.RawMessage `json:"result"`
	}](addr, "/api/v1/query_range", url.Values{
		"query": {q},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix()+1, 10)},
		"step":  {step.String()},
	})
	return len(data.Result), err
}

// promLabelValues returns the values of label on the series of match, as
// Grafana's label_values(match, label) asks for them.
func promLabelValues(addr, label, match string) ([]string, error) {
	return promGet[[]string](addr, "/api/v1/label/"+label+"/values", url.Values{"match[]": {match}})
}
