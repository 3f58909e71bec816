package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/internal/redistest"
)

// globalRoute is a route whose rate limit is kept in Redis.
const globalRoute = `  - name: global
    match: {path_prefix: /global}
    upstream: shop
    retry: {attempts: 2, retry_on: [5xx], backoff: {base: 1ms, max: 2ms}} # past the flaky endpoint
    rate_limit: {requests_per_second: 1000, burst: 100, scope: global}
`

// TestGlobalRateLimitMetricsAndStatus: a route with a global rate limit
// exports its Redis errors, fallbacks and degraded state, on /metrics and
// on /status: all quiet while Redis answers; degraded, with the errors and
// fallbacks counted, once Redis is killed. Routes with a local limit export
// none of them.
func TestGlobalRateLimitMetricsAndStatus(t *testing.T) {
	srv := redistest.Start(t)
	e := startEnv(t, envOptions{top: "redis: {address: " + srv.Addr() + ", timeout: 250ms}", extra: globalRoute})
	route := l{"route": "global"}

	if got := e.send("/global/x"); got != http.StatusOK {
		t.Fatalf("GET /global with redis up = %d; want 200", got)
	}
	fams := families(t, e.metrics)
	for name, want := range map[string]float64{
		"holdfast_route_rate_limit_redis_errors_total":    0,
		"holdfast_route_rate_limit_redis_fallbacks_total": 0,
		"holdfast_route_rate_limit_redis_degraded":        0,
	} {
		if got, ok := sample(fams, name, route); !ok || got != want {
			t.Errorf("redis up: %s{route=global} = %v (present %v); want %v", name, got, ok, want)
		}
		if _, ok := sample(fams, name, l{"route": "limited"}); ok {
			t.Errorf("%s has a series for route limited, whose limit is local", name)
		}
	}

	srv.Kill()
	for range 3 {
		if got := e.send("/global/x"); got != http.StatusOK {
			t.Fatalf("GET /global with redis down = %d; want 200 (on_error local)", got)
		}
	}
	fams = families(t, e.metrics)
	if got, _ := sample(fams, "holdfast_route_rate_limit_redis_degraded", route); got != 1 {
		t.Errorf("redis down: holdfast_route_rate_limit_redis_degraded = %v; want 1", got)
	}
	if got, _ := sample(fams, "holdfast_route_rate_limit_redis_errors_total", route); got != 1 {
		t.Errorf("redis down: errors_total = %v; want 1 (the short circuit skips Redis after it)", got)
	}
	if got, _ := sample(fams, "holdfast_route_rate_limit_redis_fallbacks_total", route); got != 3 {
		t.Errorf("redis down: fallbacks_total = %v; want 3", got)
	}

	code, body, _ := e.do("GET", "/status", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /status = %d", code)
	}
	var st struct {
		Routes []struct {
			Name           string `json:"name"`
			RateLimitScope string `json:"rate_limit_scope"`
			RateLimitRedis *struct {
				Degraded  bool   `json:"degraded"`
				OnError   string `json:"on_error"`
				Errors    uint64 `json:"errors"`
				Fallbacks uint64 `json:"fallbacks"`
			} `json:"rate_limit_redis"`
		} `json:"routes"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	found := false
	for _, r := range st.Routes {
		switch r.Name {
		case "global":
			found = true
			if rr := r.RateLimitRedis; r.RateLimitScope != "global" || rr == nil || !rr.Degraded || rr.OnError != "local" || rr.Errors != 1 || rr.Fallbacks != 3 {
				t.Errorf("/status route global: scope %q, redis %+v; want global, degraded, on_error local, 1 error, 3 fallbacks", r.RateLimitScope, rr)
			}
		case "limited":
			if r.RateLimitScope != "local" || r.RateLimitRedis != nil {
				t.Errorf("/status route limited: scope %q, redis %+v; want local and no redis state", r.RateLimitScope, r.RateLimitRedis)
			}
		}
	}
	if !found {
		t.Errorf("/status has no route global: %s", body)
	}

	// The status page, in a real browser, says so on the route's row.
	dom := chromium(t, e.base+"/", "--dump-dom")
	if _, row := startTag(t, dom, "tr", "data-route", "global"); !strings.Contains(row, `data-redis="degraded"`) || !strings.Contains(text(row), "global rate limit") || !strings.Contains(text(row), "redis down · on_error local") {
		t.Errorf("status page row of route global: %s; want a global rate limit shown with redis down · on_error local", text(row))
	}
	if _, row := startTag(t, dom, "tr", "data-route", "limited"); strings.Contains(row, "data-redis") {
		t.Errorf("status page row of route limited (local limit): %s; want no redis state", text(row))
	}
}
