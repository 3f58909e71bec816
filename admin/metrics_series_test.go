package admin

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/internal/testkit"
	"github.com/holdfast-dev/holdfast/proxy"
)

// The config of the series tests: a fresh route on an upstream with a
// breaker and a fixed concurrency limit, a hedged route with a fallback,
// and a plain upstream.
const seriesConfig = `listen: 127.0.0.1:0
upstreams:
  api:
    endpoints: [{address: %[1]s}]
    circuit_breaker: {consecutive_failures: 5}
    concurrency: {limit: 10}
  plain:
    endpoints: [{address: %[2]s}, {address: %[3]s}]
routes:
  - name: fresh
    match: {path_prefix: /fresh}
    upstream: api
  - name: hedged
    match: {path_prefix: /hedged}
    upstream: plain
    hedge: {delay: 50ms}
    fallback: {body: sorry, on: [timeout, 5xx]}
%[4]s`

const (
	epA = "http://127.0.0.1:9"
	epB = "http://127.0.0.1:10"
	epC = "http://127.0.0.1:11"
)

func seriesProxy(t *testing.T, extraRoutes string) (*proxy.Proxy, *Metrics) {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, seriesConfig, epA, epB, epC, extraRoutes))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	p, err := proxy.New(cfg, proxy.Options{Listener: m, OnRequest: m.OnRequest, OnAttempt: m.OnAttempt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	m.Watch(p)
	return p, m
}

// TestSeriesExistAtZero checks that every series a route, upstream or
// endpoint can have is there, at 0, once the config is watched, before any
// traffic: a counter born with its first increment shows no increase to
// Prometheus, so a fresh route's first failures would never alert.
func TestSeriesExistAtZero(t *testing.T) {
	_, m := seriesProxy(t, "")
	fams := families(t, m)
	want := []struct {
		name   string
		labels l
	}{
		{"holdfast_route_requests_total", l{"route": "fresh", "code_class": "5xx"}},
		{"holdfast_route_requests_total", l{"route": "fresh", "code_class": "2xx"}},
		{"holdfast_route_requests_total", l{"route": UnmatchedRoute, "code_class": "4xx"}},
		{"holdfast_route_request_duration_seconds", l{"route": "fresh", "code_class": "5xx"}},
		{"holdfast_route_rate_limited_total", l{"route": "fresh"}},
		{"holdfast_route_local_replies_total", l{"route": UnmatchedRoute, "reason": "no_route"}},
		{"holdfast_route_local_replies_total", l{"route": "fresh", "reason": "client_closed"}},
		{"holdfast_route_fallbacks_total", l{"route": "hedged", "reason": "timeout"}},
		{"holdfast_route_fallbacks_total", l{"route": "hedged", "reason": "5xx"}},
		{"holdfast_route_hedge_budget_exhausted_total", l{"route": "hedged"}},
		{"holdfast_upstream_attempts_total", l{"upstream": "api"}},
		{"holdfast_upstream_retries_total", l{"upstream": "api"}},
		{"holdfast_upstream_hedges_total", l{"upstream": "plain"}},
		{"holdfast_upstream_retry_budget_exhausted_total", l{"upstream": "plain"}},
		{"holdfast_upstream_rejections_total", l{"upstream": "api", "reason": "breaker_open"}},
		{"holdfast_upstream_rejections_total", l{"upstream": "api", "reason": "overloaded"}},
		{"holdfast_upstream_rejections_total", l{"upstream": "api", "reason": "queue_timeout"}},
		{"holdfast_upstream_queue_wait_seconds", l{"upstream": "api"}},
		{"holdfast_upstream_breaker_transitions_total", l{"upstream": "api", "from": "closed", "to": "open"}},
		{"holdfast_upstream_breaker_transitions_total", l{"upstream": "api", "from": "half_open", "to": "closed"}},
		{"holdfast_upstream_endpoint_changes_total", l{"upstream": "plain", "to": "ejected"}},
		{"holdfast_upstream_endpoint_changes_total", l{"upstream": "api", "to": "panic"}},
		{"holdfast_endpoint_attempts_total", l{"upstream": "plain", "endpoint": epC, "outcome": "reset"}},
		{"holdfast_endpoint_attempts_total", l{"upstream": "api", "endpoint": epA, "outcome": "response"}},
		{"holdfast_endpoint_responses_total", l{"upstream": "api", "endpoint": epA, "code_class": "5xx"}},
		{"holdfast_endpoint_attempt_duration_seconds", l{"upstream": "plain", "endpoint": epB}},
		{"holdfast_config_reloads_total", l{"result": "failure"}},
	}
	for _, w := range want {
		got, ok := sample(fams, w.name, w.labels)
		if !ok {
			t.Errorf("%s%v: no such series", w.name, w.labels)
		} else if got != 0 {
			t.Errorf("%s%v: got %g; want 0", w.name, w.labels, got)
		}
	}
	// Every local-reply reason of every route, so that an alert on any of
	// them sees its first increase.
	for _, route := range []string{"fresh", "hedged", UnmatchedRoute} {
		for _, reason := range append(holdfasthttp.Reasons, "client_closed") {
			if _, ok := sample(fams, "holdfast_route_local_replies_total", l{"route": route, "reason": reason}); !ok {
				t.Errorf("holdfast_route_local_replies_total{route=%s,reason=%s}: no such series", route, reason)
			}
		}
		for _, class := range []string{"1xx", "2xx", "3xx", "4xx", "5xx"} {
			if _, ok := sample(fams, "holdfast_route_requests_total", l{"route": route, "code_class": class}); !ok {
				t.Errorf("holdfast_route_requests_total{route=%s,code_class=%s}: no such series", route, class)
			}
		}
	}
	for _, outcome := range proxy.AttemptOutcomes {
		if _, ok := sample(fams, "holdfast_endpoint_attempts_total", l{"upstream": "plain", "endpoint": epB, "outcome": outcome}); !ok {
			t.Errorf("holdfast_endpoint_attempts_total{upstream=plain,endpoint=%s,outcome=%s}: no such series", epB, outcome)
		}
	}
	// What a route or upstream cannot have is not made up: no fallback
	// series without a fallback, no breaker series without a breaker.
	for _, absent := range []struct {
		name   string
		labels l
	}{
		{"holdfast_route_fallbacks_total", l{"route": "fresh"}},
		{"holdfast_route_fallbacks_total", l{"route": "hedged", "reason": "breaker_open"}},
		{"holdfast_route_hedge_budget_exhausted_total", l{"route": "fresh"}},
		{"holdfast_upstream_breaker_transitions_total", l{"upstream": "plain"}},
		{"holdfast_upstream_rejections_total", l{"upstream": "plain"}},
		{"holdfast_upstream_queue_wait_seconds", l{"upstream": "plain"}},
	} {
		if _, ok := sample(fams, absent.name, absent.labels); ok {
			t.Errorf("%s%v: got a series; want none", absent.name, absent.labels)
		}
	}
	checkLabelHygiene(t, fams, []string{epA, epB, epC})
}

// TestReloadDeletesSeries checks that a reload's dropped route, upstream,
// endpoint and policy lose their series, new ones get theirs at 0, and a
// late report about a dropped route (a request that was in flight across
// the reload) does not bring its series back.
func TestReloadDeletesSeries(t *testing.T) {
	p, m := seriesProxy(t, "  - {name: doomed, match: {path_prefix: /doomed}, upstream: plain}\n")
	m.OnRequest(proxy.RequestInfo{Route: "doomed", Upstream: "plain", Status: 503, Attempts: 1})
	if got, _ := sample(families(t, m), "holdfast_route_requests_total", l{"route": "doomed", "code_class": "5xx"}); got != 1 {
		t.Fatalf("before the reload: doomed's 5xx count is %g; want 1", got)
	}

	// The reload drops route doomed, upstream api (and with it route fresh,
	// its breaker and its limit), endpoint epC and the hedge; it adds route
	// newcomer.
	cfg, err := config.Parse(fmt.Appendf(nil, `listen: 127.0.0.1:0
upstreams:
  plain:
    endpoints: [{address: %s}]
routes:
  - name: hedged
    match: {path_prefix: /hedged}
    upstream: plain
  - name: newcomer
    match: {path_prefix: /new}
    upstream: plain
`, epB))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	m.OnRequest(proxy.RequestInfo{Route: "doomed", Upstream: "plain", Status: 503, Attempts: 1})
	m.OnAttempt(proxy.AttemptInfo{Route: "fresh", Upstream: "api", Endpoint: strings.TrimPrefix(epA, "http://"), Attempt: 1, Outcome: proxy.AttemptReset})
	fams := families(t, m)
	for name, f := range fams {
		for _, s := range f.GetMetric() {
			for _, lp := range s.GetLabel() {
				switch v := lp.GetValue(); {
				case lp.GetName() == "route" && (v == "doomed" || v == "fresh"),
					lp.GetName() == "upstream" && v == "api",
					lp.GetName() == "endpoint" && v == epC,
					name == "holdfast_route_hedge_budget_exhausted_total",
					name == "holdfast_route_fallbacks_total":
					t.Errorf("after the reload: %s has a series with %s=%q", name, lp.GetName(), v)
				}
			}
		}
	}
	for _, w := range []struct {
		name   string
		labels l
	}{
		{"holdfast_route_requests_total", l{"route": "newcomer", "code_class": "5xx"}},
		{"holdfast_route_requests_total", l{"route": "hedged", "code_class": "5xx"}},
		{"holdfast_endpoint_attempts_total", l{"upstream": "plain", "endpoint": epB, "outcome": "reset"}},
		{"holdfast_upstream_endpoint_changes_total", l{"upstream": "plain", "to": "ejected"}},
	} {
		if got, ok := sample(fams, w.name, w.labels); !ok || got != 0 {
			t.Errorf("after the reload: %s%v: got %g (present %v); want 0", w.name, w.labels, got, ok)
		}
	}
}

// TestOnAttempt runs attempts through a real proxy to a failing and a
// refusing endpoint and checks each is counted under its endpoint's label,
// the address as /status shows it, by outcome and status class.
func TestOnAttempt(t *testing.T) {
	failing := testkit.Start(t, testkit.Config{Name: "failing"})
	failing.Fail(503)
	refusing := testkit.Start(t, testkit.Config{Name: "refusing"})
	refusing.Refuse()
	cfg, err := config.Parse(fmt.Appendf(nil, `listen: 127.0.0.1:0
upstreams:
  u:
    balancer: round_robin
    outlier_detection: {disabled: true}
    endpoints: [{address: %s}, {address: %s}]
routes:
  - name: r
    upstream: u
    retry: {attempts: 2, retry_on: [connect_failure, 5xx], backoff: {base: 1ms, max: 1ms}}
`, failing.URL(), refusing.URL()))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	p, err := proxy.New(cfg, proxy.Options{Listener: m, OnRequest: m.OnRequest, OnAttempt: m.OnAttempt})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m.Watch(p)
	const requests = 4
	for range requests {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		if rec.Code != 503 {
			t.Fatalf("got status %d; want 503, the failing endpoint's answer or the refusal's", rec.Code)
		}
	}
	fams := families(t, m)
	// Round robin over two endpoints, two attempts each: every request
	// tries both, once each.
	for _, tt := range []struct {
		name   string
		labels l
		want   float64
	}{
		{"holdfast_endpoint_attempts_total", l{"upstream": "u", "endpoint": failing.URL(), "outcome": "response"}, requests},
		{"holdfast_endpoint_responses_total", l{"upstream": "u", "endpoint": failing.URL(), "code_class": "5xx"}, requests},
		{"holdfast_endpoint_responses_total", l{"upstream": "u", "endpoint": failing.URL(), "code_class": "2xx"}, 0},
		{"holdfast_endpoint_attempts_total", l{"upstream": "u", "endpoint": refusing.URL(), "outcome": "connect_failure"}, requests},
		{"holdfast_endpoint_attempts_total", l{"upstream": "u", "endpoint": refusing.URL(), "outcome": "response"}, 0},
		{"holdfast_endpoint_attempt_duration_seconds", l{"upstream": "u", "endpoint": failing.URL()}, requests},
		{"holdfast_endpoint_attempt_duration_seconds", l{"upstream": "u", "endpoint": refusing.URL()}, requests},
		{"holdfast_upstream_attempts_total", l{"upstream": "u"}, 2 * requests},
		{"holdfast_upstream_retries_total", l{"upstream": "u"}, requests},
	} {
		if got, ok := sample(fams, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v: got %g (present %v); want %g", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	checkLabelHygiene(t, fams, []string{failing.URL(), refusing.URL()})
}

// TestVoteAttemptsPerVoter: a vote route's request counts each voter's
// attempts under that voter's upstream, not their sum under the relayed
// voter's.
func TestVoteAttemptsPerVoter(t *testing.T) {
	_, m := seriesProxy(t, "")
	m.OnRequest(proxy.RequestInfo{Route: "fresh", Upstream: "api", Status: 200, Attempts: 3,
		Vote: &proxy.VoteVerdict{Verdict: proxy.VerdictAgreed, Attempts: []proxy.VoterAttempts{{Upstream: "api", Attempts: 1}, {Upstream: "plain", Attempts: 2}}}})
	fams := families(t, m)
	for u, want := range map[string]float64{"api": 1, "plain": 2} {
		if got, _ := sample(fams, "holdfast_upstream_attempts_total", l{"upstream": u}); got != want {
			t.Errorf("holdfast_upstream_attempts_total{upstream=%q} = %g; want %g", u, got, want)
		}
	}
}
