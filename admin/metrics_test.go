package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/internal/redistest"
	"github.com/holdfast-dev/holdfast/internal/testkit"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/slo"
)

// families gathers m by metric name, as a scrape does.
func families(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// sample returns the value of the series of name whose labels include
// labels: a counter's or gauge's value, a histogram's sample count.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

type l = map[string]string

func TestMetricsAfterTraffic(t *testing.T) {
	e := startEnv(t, envOptions{})
	shop, ledger := e.breakThings()
	if got := e.send("/ledger/balance"); got != 503 {
		t.Fatalf("GET /ledger with the breaker open: got %d; want 503", got)
	}
	e.send("/limited/a") // takes the only token
	if got := e.send("/limited/b"); got != 429 {
		t.Fatalf("second GET /limited: got %d; want 429", got)
	}
	e.send("/nowhere/at/all")

	flaky, good := e.flaky.URL(), e.good.URL()
	fams := families(t, e.metrics)
	tests := []struct {
		name   string
		labels l
		want   float64
	}{
		{"holdfast_route_requests_total", l{"route": "shop", "code_class": "2xx"}, float64(shop)},
		{"holdfast_route_requests_total", l{"route": "ledger", "code_class": "5xx"}, float64(ledger + 1)},
		{"holdfast_route_requests_total", l{"route": "limited", "code_class": "4xx"}, 1},
		{"holdfast_route_requests_total", l{"route": UnmatchedRoute, "code_class": "4xx"}, 1},
		{"holdfast_route_request_duration_seconds", l{"route": "shop", "code_class": "2xx"}, float64(shop)},
		{"holdfast_route_request_duration_seconds", l{"route": "ledger", "code_class": "2xx"}, 0},
		{"holdfast_route_local_replies_total", l{"route": "ledger", "reason": "breaker_open"}, 1},
		{"holdfast_route_local_replies_total", l{"route": "limited", "reason": "rate_limited"}, 1},
		{"holdfast_route_local_replies_total", l{"route": UnmatchedRoute, "reason": "no_route"}, 1},
		{"holdfast_route_rate_limited_total", l{"route": "limited"}, 1},
		// The flaky endpoint failed twice, each time retried on the good one.
		{"holdfast_upstream_retries_total", l{"upstream": "shop"}, 2},
		{"holdfast_upstream_attempts_total", l{"upstream": "shop"}, float64(shop + 2 + 1)},
		{"holdfast_upstream_attempts_total", l{"upstream": "ledger"}, float64(ledger)},
		{"holdfast_upstream_rejections_total", l{"upstream": "ledger", "reason": "breaker_open"}, 1},
		{"holdfast_upstream_breaker_transitions_total", l{"upstream": "ledger", "from": "closed", "to": "open"}, 1},
		{"holdfast_upstream_breaker_state", l{"upstream": "ledger", "state": "open"}, 1},
		{"holdfast_upstream_breaker_state", l{"upstream": "ledger", "state": "closed"}, 0},
		{"holdfast_upstream_breaker_state", l{"upstream": "ledger", "state": "half_open"}, 0},
		{"holdfast_upstream_endpoint_changes_total", l{"upstream": "shop", "to": "ejected"}, 1},
		{"holdfast_upstream_usable_endpoints", l{"upstream": "shop"}, 1},
		{"holdfast_upstream_panic", l{"upstream": "shop"}, 0},
		{"holdfast_upstream_concurrency_limit", l{"upstream": "ledger", "kind": "fixed"}, 10},
		{"holdfast_upstream_queued", l{"upstream": "ledger"}, 0},
		{"holdfast_upstream_in_flight", l{"upstream": "shop"}, 0},
		{"holdfast_endpoint_ejected", l{"upstream": "shop", "endpoint": flaky}, 1},
		{"holdfast_endpoint_ejected", l{"upstream": "shop", "endpoint": good}, 0},
		{"holdfast_endpoint_ejections_total", l{"upstream": "shop", "endpoint": flaky}, 1},
		{"holdfast_endpoint_healthy", l{"upstream": "shop", "endpoint": flaky}, 1},
		{"holdfast_endpoint_in_flight", l{"upstream": "shop", "endpoint": good}, 0},
	}
	for _, tt := range tests {
		got, ok := sample(fams, tt.name, tt.labels)
		if !ok {
			t.Errorf("%s%v: no such series", tt.name, tt.labels)
			continue
		}
		if got != tt.want {
			t.Errorf("%s%v: got %g; want %g", tt.name, tt.labels, got, tt.want)
		}
	}
	if got, _ := sample(fams, "holdfast_upstream_retry_budget_remaining", l{"upstream": "shop"}); got <= 0 {
		t.Errorf("holdfast_upstream_retry_budget_remaining{upstream=shop}: got %g; want > 0", got)
	}
	if _, ok := sample(fams, "holdfast_upstream_breaker_state", l{"upstream": "shop"}); ok {
		t.Errorf("holdfast_upstream_breaker_state{upstream=shop}: got a series for an upstream without a breaker")
	}
	checkLabelHygiene(t, fams, []string{good, flaky, e.bad.URL()})

	// The same figures over HTTP.
	status, body, _ := e.do("GET", "/metrics", nil, nil)
	if status != 200 || !strings.Contains(body, `holdfast_upstream_breaker_state{state="open",upstream="ledger"} 1`) {
		t.Errorf("GET /metrics: got %d; want 200 with the open ledger breaker:\n%s", status, body)
	}
}

// allowedLabels are the only label names holdfast metrics use; each takes
// its values from the config or a fixed set.
var allowedLabels = []string{
	"route", "upstream", "endpoint", "code_class", "reason", "outcome", "from", "to", "state", "kind",
	"result", "sha256", "version", "revision", "goversion",
}

// checkLabelHygiene fails on a label outside allowedLabels, an endpoint
// that is not configured, or a value that looks like a request path.
func checkLabelHygiene(t *testing.T, fams map[string]*dto.MetricFamily, endpoints []string) {
	t.Helper()
	for name, f := range fams {
		if !strings.HasPrefix(name, "holdfast_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				n, v := lp.GetName(), lp.GetValue()
				switch {
				case !slices.Contains(allowedLabels, n):
					t.Errorf("%s: label %s is not one of %v", name, n, allowedLabels)
				case n == "endpoint" && !slices.Contains(endpoints, v):
					t.Errorf("%s: endpoint label %q is not a configured endpoint", name, v)
				case n != "endpoint" && (strings.Contains(v, "/") || strings.Contains(v, "12345")):
					t.Errorf("%s: label %s=%q looks like a request path", name, n, v)
				}
			}
		}
	}
}

// TestOnEvent checks that policy events reach holdfastprom, which counts
// them (its own tests have the whole mapping), under the names the proxy
// uses.
func TestOnEvent(t *testing.T) {
	tests := []struct {
		name   string
		event  holdfast.Event
		metric string
		labels l
	}{
		{"breaker opens", holdfast.Event{Source: holdfast.KindBreaker, Policy: "db", Kind: holdfast.EventStateChange, From: "closed", To: "open"},
			"holdfast_upstream_breaker_transitions_total", l{"upstream": "db", "from": "closed", "to": "open"}},
		{"endpoint unhealthy", holdfast.Event{Source: holdfast.KindUpstream, Policy: "db", Kind: holdfast.EventStateChange, From: "healthy", To: "unhealthy"},
			"holdfast_upstream_endpoint_changes_total", l{"upstream": "db", "to": "unhealthy"}},
		{"retry", holdfast.Event{Source: holdfast.KindRetry, Policy: "db", Kind: holdfast.EventRetry, Attempt: 1},
			"holdfast_upstream_retries_total", l{"upstream": "db"}},
		{"hedge budget spent", holdfast.Event{Source: holdfast.KindHedge, Policy: "read", Kind: holdfast.EventRejected, Attempt: 2, Reason: holdfast.ReasonBudgetExhausted},
			"holdfast_route_hedge_budget_exhausted_total", l{"route": "read"}},
		{"queued", holdfast.Event{Source: holdfast.KindBulkhead, Policy: "db", Kind: holdfast.EventQueued, Delay: 3 * time.Millisecond},
			"holdfast_upstream_queue_wait_seconds", l{"upstream": "db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics()
			m.OnEvent(tt.event)
			m.OnEvent(tt.event)
			if got, ok := sample(families(t, m), tt.metric, tt.labels); !ok || got != 2 {
				t.Errorf("%s%v after two events: got %g (present %v); want 2", tt.metric, tt.labels, got, ok)
			}
		})
	}
}

// TestOnEventAfterReload checks that a policy a reload dropped has no
// series, even when it reports late (a breaker tripped by a request that
// was in flight across the reload), while the same name's other kind of
// policy still counts.
func TestOnEventAfterReload(t *testing.T) {
	p, m := seriesProxy(t, "")
	cfg, err := config.Parse(fmt.Appendf(nil, seriesConfig, epA, epB, epC, ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstreams["api"].CircuitBreaker = nil
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	m.OnEvent(holdfast.Event{Source: holdfast.KindBreaker, Policy: "api", Kind: holdfast.EventStateChange, From: "closed", To: "open"})
	m.OnEvent(holdfast.Event{Source: holdfast.KindUpstream, Policy: "api", Kind: holdfast.EventStateChange, From: "active", To: "ejected"})
	fams := families(t, m)
	if _, ok := sample(fams, "holdfast_upstream_breaker_transitions_total", l{"upstream": "api"}); ok {
		t.Errorf("holdfast_upstream_breaker_transitions_total{upstream=api}: a series after the breaker was dropped")
	}
	if _, ok := sample(fams, "holdfast_upstream_rejections_total", l{"upstream": "api", "reason": "breaker_open"}); ok {
		t.Errorf("holdfast_upstream_rejections_total{upstream=api,reason=breaker_open}: a series after the breaker was dropped")
	}
	if got, _ := sample(fams, "holdfast_upstream_endpoint_changes_total", l{"upstream": "api", "to": "ejected"}); got != 1 {
		t.Errorf("holdfast_upstream_endpoint_changes_total{upstream=api,to=ejected}: got %g; want 1", got)
	}
	if got, ok := sample(fams, "holdfast_upstream_rejections_total", l{"upstream": "api", "reason": "overloaded"}); !ok || got != 0 {
		t.Errorf("holdfast_upstream_rejections_total{upstream=api,reason=overloaded}: got %g (present %v); want 0, the limit stays", got, ok)
	}
}

func TestOnRequest(t *testing.T) {
	tests := []struct {
		name   string
		info   proxy.RequestInfo
		metric string
		labels l
		want   float64
	}{
		{"proxied", proxy.RequestInfo{Route: "r", Upstream: "u", Status: 204, Attempts: 1},
			"holdfast_route_requests_total", l{"route": "r", "code_class": "2xx"}, 1},
		{"attempts", proxy.RequestInfo{Route: "r", Upstream: "u", Status: 200, Attempts: 3, Retries: 1, Hedges: 1},
			"holdfast_upstream_attempts_total", l{"upstream": "u"}, 3},
		{"hedges", proxy.RequestInfo{Route: "r", Upstream: "u", Status: 200, Attempts: 2, Hedges: 1},
			"holdfast_upstream_hedges_total", l{"upstream": "u"}, 1},
		{"local reply", proxy.RequestInfo{Route: "r", Upstream: "u", Status: 503, Reason: "overloaded"},
			"holdfast_route_local_replies_total", l{"route": "r", "reason": "overloaded"}, 1},
		{"fallback", proxy.RequestInfo{Route: "r", Upstream: "u", Status: 200, Reason: "breaker_open", Fallback: true},
			"holdfast_route_fallbacks_total", l{"route": "r", "reason": "breaker_open"}, 1},
		{"client gone", proxy.RequestInfo{Route: "r", Upstream: "u", Status: 499, Reason: "client_closed"},
			"holdfast_route_requests_total", l{"route": "r", "code_class": "4xx"}, 1},
		{"no route", proxy.RequestInfo{Status: 404, Reason: "no_route"},
			"holdfast_route_requests_total", l{"route": UnmatchedRoute, "code_class": "4xx"}, 1},
		{"duration", proxy.RequestInfo{Route: "r", Status: 200, Duration: 30 * time.Millisecond},
			"holdfast_route_request_duration_seconds", l{"route": "r", "code_class": "2xx"}, 1},
		{"duration of a failure", proxy.RequestInfo{Route: "r", Status: 502, Duration: 30 * time.Millisecond},
			"holdfast_route_request_duration_seconds", l{"route": "r", "code_class": "5xx"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics()
			m.OnRequest(tt.info)
			fams := families(t, m)
			if got, ok := sample(fams, tt.metric, tt.labels); !ok || got != tt.want {
				t.Errorf("%s%v: got %g (present %v); want %g", tt.metric, tt.labels, got, ok, tt.want)
			}
			// A fallback is not a local reply, and the reverse.
			if tt.info.Fallback {
				if _, ok := sample(fams, "holdfast_route_local_replies_total", nil); ok {
					t.Errorf("a fallback also counted as a local reply")
				}
			}
		})
	}
}

func TestCodeClass(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{0, "other"}, {99, "other"}, {100, "1xx"}, {101, "1xx"}, {200, "2xx"}, {299, "2xx"}, {304, "3xx"},
		{404, "4xx"}, {429, "4xx"}, {499, "4xx"}, {500, "5xx"}, {503, "5xx"}, {599, "5xx"}, {600, "other"}, {-1, "other"},
	}
	for _, tt := range tests {
		if got := codeClass(tt.status); got != tt.want {
			t.Errorf("codeClass(%d): got %q; want %q", tt.status, got, tt.want)
		}
	}
}

// exercised returns metrics on a running proxy with a series of every
// holdfast metric: the traffic of an env, plus one of each event the proxy
// may not have produced.
func exercised(t *testing.T) (*env, map[string]*dto.MetricFamily) {
	t.Helper()
	e := startEnv(t, envOptions{})
	e.breakThings()
	m := e.metrics
	m.OnRequest(proxy.RequestInfo{Route: "shop", Upstream: "shop", Status: 200, Attempts: 2, Hedges: 1, Retries: 1, Reason: "5xx", Fallback: true})
	m.OnEvent(holdfast.Event{Source: holdfast.KindBulkhead, Policy: "ledger", Kind: holdfast.EventQueued, Delay: time.Millisecond})
	m.OnEvent(holdfast.Event{Source: holdfast.KindRetry, Policy: "shop", Kind: holdfast.EventRejected, Reason: holdfast.ReasonBudgetExhausted})
	m.OnEvent(holdfast.Event{Source: holdfast.KindHedge, Policy: "shop", Kind: holdfast.EventRejected, Attempt: 2, Reason: holdfast.ReasonBudgetExhausted})
	// The env's proxy does not report attempts; report one as it would.
	m.OnAttempt(proxy.AttemptInfo{Route: "shop", Upstream: "shop", Endpoint: strings.TrimPrefix(e.good.URL(), "http://"),
		Attempt: 1, Outcome: proxy.AttemptResponse, Status: 200, Duration: 3 * time.Millisecond})
	m.SetBuildInfo("v1.2.3", "0123abc", "go1.26")
	m.ConfigLoaded(sha256.Sum256([]byte("config")), time.Unix(1700000000, 0))
	m.ReloadFailed()
	e.send("/ledger/x") // refused by the open breaker
	e.send("/limited/x")
	e.send("/limited/x")
	// An alert receiver's delivery series.
	am, err := alert.New(alert.Config{Instance: "test", Status: (&slo.Set{}).StatusAt,
		Receivers: []alert.Receiver{{Name: "oncall", Webhook: "http://127.0.0.1:1/", Tiers: []string{"P0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Close)
	if err := m.WatchAlerts(am); err != nil {
		t.Fatal(err)
	}
	return e, families(t, m)
}

// TestMetricsDocumented checks that docs/admin.md lists exactly the
// holdfast metrics there are.
func TestMetricsDocumented(t *testing.T) {
	_, fams := exercised(t)
	// The series of a fleet (a global rate limit and a shared breaker,
	// with a real Redis) and of a vote route.
	srv := redistest.Start(t)
	fleet := startEnv(t, envOptions{top: "redis: {address: " + srv.Addr() + ", timeout: 250ms}", extra: globalRoute + voteRoute, ledger: "    shared_breaker: {}"})
	fleet.send("/global/x")
	maps.Copy(fams, families(t, fleet.metrics))
	// A route with response checks: its series are there at 0.
	maps.Copy(fams, families(t, startEnv(t, envOptions{extra: checkedRoute}).metrics))
	// A canary route: its series are there from the start.
	maps.Copy(fams, families(t, startEnv(t, envOptions{extra: canaryRoute}).metrics))
	// A shadow route: its series are there at 0.
	maps.Copy(fams, families(t, startEnv(t, envOptions{extra: shadowRoute}).metrics))
	// A route with a quiesce block: its series are there at 0.
	maps.Copy(fams, families(t, startEnv(t, envOptions{extra: fmt.Sprintf(quiescingRoute, "")}).metrics))
	// A durable route: its series are there from the start.
	maps.Copy(fams, families(t, durableEnv(t).metrics))
	doc, err := os.ReadFile("../docs/admin.md")
	if err != nil {
		t.Fatalf("reading the docs: %v", err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`(holdfast_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	for name := range fams {
		if strings.HasPrefix(name, "holdfast_") && !documented[name] {
			t.Errorf("metric %s is not in docs/admin.md", name)
		}
	}
	for name := range documented {
		if _, ok := fams[name]; !ok {
			t.Errorf("docs/admin.md lists %s, which the metrics do not have", name)
		}
	}
}

func TestMetricsLint(t *testing.T) {
	_, fams := exercised(t)
	var list []*dto.MetricFamily
	for _, f := range fams {
		list = append(list, f)
	}
	problems, err := promlint.NewWithMetricFamilies(list).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestPromtoolCheckMetrics runs Prometheus's own checker on what /metrics
// serves. The Makefile's tools target installs promtool (Debian package
// prometheus); the test installs it itself when it is missing.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	e, _ := exercised(t)
	status, body, _ := e.do("GET", "/metrics", nil, nil)
	if status != 200 {
		t.Fatalf("GET /metrics: got status %d", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running promtool: %v", err)
	}
	if err != nil || strings.TrimSpace(out.String()) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// TestHedgeMetrics checks the proxy's count of hedged attempts reaches the
// upstream's metric: the backend answers slower than the hedge delay, so
// every request gets its one extra attempt.
func TestHedgeMetrics(t *testing.T) {
	b := testkit.Start(t, testkit.Config{Name: "slow"})
	b.Slow(50 * time.Millisecond)
	cfg, err := config.Parse([]byte(`listen: 127.0.0.1:0
upstreams:
  slow:
    endpoints: [{address: ` + b.URL() + `}]
routes:
  - name: hedged
    upstream: slow
    hedge: {delay: 1ms, max_extra: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	infos := make(chan proxy.RequestInfo, 8)
	p, err := proxy.New(cfg, proxy.Options{Listener: m, OnRequest: func(i proxy.RequestInfo) { m.OnRequest(i); infos <- i }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const requests = 3
	for range requests {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		if rec.Code != 200 {
			t.Fatalf("got status %d; want 200", rec.Code)
		}
		if info := <-infos; info.Hedges != 1 || info.Attempts != 2 {
			t.Errorf("got %d hedges, %d attempts; want 1, 2", info.Hedges, info.Attempts)
		}
	}
	fams := families(t, m)
	if got, _ := sample(fams, "holdfast_upstream_hedges_total", l{"upstream": "slow"}); got != requests {
		t.Errorf("holdfast_upstream_hedges_total: got %g; want %d", got, requests)
	}
	if got, _ := sample(fams, "holdfast_upstream_attempts_total", l{"upstream": "slow"}); got != 2*requests {
		t.Errorf("holdfast_upstream_attempts_total: got %g; want %d", got, 2*requests)
	}
}
