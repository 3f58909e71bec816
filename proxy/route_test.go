package proxy

import (
	"net/http"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/retry"
)

// parsedRoute builds the live route of a one-route config whose route has
// the given extra lines.
func parsedRoute(t *testing.T, extra string) *route {
	t.Helper()
	cfg, err := config.Parse([]byte("upstreams:\n  a:\n    endpoints: [{address: 'http://127.0.0.1:1'}]\nroutes:\n  - name: r\n    upstream: a\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := newCluster("a", cfg.Upstreams["a"], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	r, err := newRoute(cfg.Routes[0], map[string]*cluster{"a": cl}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRouteBudgetIsTheZeroBudgetConfigs: a route that sets no budget
// draws on its upstream's, which is the zero retry.BudgetConfig's.
func TestRouteBudgetIsTheZeroBudgetConfigs(t *testing.T) {
	r := parsedRoute(t, "")
	if got := r.retryCfg.Attempts; got != retry.DefaultAttempts {
		t.Errorf("attempts of a route that sets none: %d; want retry.DefaultAttempts, %d", got, retry.DefaultAttempts)
	}
	if got, want := r.targets[0].cluster.budget.Config(), retry.MustNewBudget(retry.BudgetConfig{}).Config(); got != want {
		t.Errorf("upstream budget %+v; want the zero BudgetConfig's %+v", got, want)
	}
	if r.targets[0].retry.Budget() != r.targets[0].cluster.budget {
		t.Error("the route's retry does not draw on its upstream's budget")
	}
}

func TestRouteRetryOn(t *testing.T) {
	resp := func(code int) *outcome {
		return &outcome{kind: outcomeResponse, resp: &http.Response{StatusCode: code}}
	}
	tests := []struct {
		retry string
		o     *outcome
		want  bool
	}{
		{"{}", &outcome{kind: outcomeConnectFailure}, true},
		{"{}", &outcome{kind: outcomeReset}, true},
		{"{}", &outcome{kind: outcomeTryTimeout}, true},
		{"{}", resp(503), true},
		{"{}", resp(500), false},
		{"{retry_on: [5xx]}", resp(500), true},
		{"{retry_on: [5xx]}", resp(429), false},
		{"{retry_on: [connect_failure]}", &outcome{kind: outcomeConnectFailure}, true},
		{"{retry_on: [connect_failure]}", &outcome{kind: outcomeReset}, false},
		{"{retry_on: [connect_failure]}", resp(502), false},
		{"{retry_on: [gateway_error]}", &outcome{kind: outcomeReset}, false},
		{"{retry_on: [reset], retriable_statuses: [429]}", resp(429), true},
		{"{retriable_statuses: [429]}", resp(429), true},
		{"{retriable_statuses: [429]}", resp(502), true},
	}
	for _, tt := range tests {
		r := parsedRoute(t, "    retry: "+tt.retry+"\n")
		if got := r.retryOn.retryable(tt.o); got != tt.want {
			t.Errorf("retry %s: retryable(kind %d, %v) = %v; want %v", tt.retry, tt.o.kind, tt.o.resp, got, tt.want)
		}
	}
}

func TestRouteLimitKey(t *testing.T) {
	req := &http.Request{RemoteAddr: "192.0.2.7:4711", Header: http.Header{"X-User-Id": {"u1"}}}
	tests := []struct{ key, want string }{
		{"route", ""},
		{"ip", "192.0.2.7"},
		{"'header:x-user-id'", "u1"},
		{"'header:X-Other'", ""},
	}
	for _, tt := range tests {
		r := parsedRoute(t, "    rate_limit: {requests_per_second: 5, key: "+tt.key+"}\n")
		if got := r.limitKey(req); got != tt.want {
			t.Errorf("key %s: limitKey = %q; want %q", tt.key, got, tt.want)
		}
	}
}

func TestRouteFallsBackOn(t *testing.T) {
	reasons := []string{ReasonBreakerOpen, ReasonOverloaded, ReasonTimeout, ReasonNoHealthyUpstream, ReasonUpstreamReset, "5xx",
		ReasonNoQuorum, ReasonInvariantViolation, ReasonQuiesced}
	all := parsedRoute(t, "    fallback: {status: 503}\n")
	for _, reason := range reasons {
		if !all.fallsBackOn(reason) {
			t.Errorf("a fallback with no on: does not answer %s; want every failure", reason)
		}
	}
	for _, reason := range []string{ReasonRateLimited, ReasonNoRoute, ReasonBodyTooLarge, ReasonFault, ReasonUpstreamError} {
		if all.fallsBackOn(reason) {
			t.Errorf("a fallback answers %s; it never should", reason)
		}
	}
	some := parsedRoute(t, "    fallback: {on: [timeout, 5xx]}\n")
	for _, reason := range reasons {
		want := reason == ReasonTimeout || reason == "5xx"
		if got := some.fallsBackOn(reason); got != want {
			t.Errorf("on: [timeout, 5xx]: fallsBackOn(%s) = %v; want %v", reason, got, want)
		}
	}
	if none := parsedRoute(t, ""); none.fallsBackOn(ReasonTimeout) {
		t.Error("a route without a fallback falls back")
	}
}
