package admin

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStatusJSON(t *testing.T) {
	e := startEnv(t, envOptions{})
	shop, ledger := e.breakThings()
	status, body, _ := e.do("GET", "/status", nil, nil)
	if status != 200 {
		t.Fatalf("GET /status: got status %d", status)
	}
	var s Status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("GET /status: %v\n%s", err, body)
	}
	if !s.Ready || s.Draining || s.Quiesced {
		t.Errorf("got ready %v draining %v quiesced %v; want ready only", s.Ready, s.Draining, s.Quiesced)
	}
	if s.TrafficWindowSeconds != TrafficWindow.Seconds() {
		t.Errorf("got traffic window %gs; want %gs", s.TrafficWindowSeconds, TrafficWindow.Seconds())
	}

	routes := map[string]RouteStatus{}
	var order []string
	for _, r := range s.Routes {
		routes[r.Name] = r
		order = append(order, r.Name)
	}
	if want := []string{"shop", "ledger", "limited"}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Errorf("got routes %v; want %v in match order", order, want)
	}
	tests := []struct {
		route    string
		requests int64
		success  float64
	}{
		{"shop", int64(shop), 1},
		{"ledger", int64(ledger), 0},
		{"limited", 0, 1},
	}
	for _, tt := range tests {
		tr := routes[tt.route].Traffic
		// All of the test's requests are within the window unless the
		// machine stalled for seconds; the count is then lower, never higher.
		if tr.Requests > tt.requests || tr.Requests == 0 && tt.requests > 0 {
			t.Errorf("route %s: got %d requests in the window; want %d", tt.route, tr.Requests, tt.requests)
		}
		if tr.SuccessRate != tt.success {
			t.Errorf("route %s: got success rate %g; want %g", tt.route, tr.SuccessRate, tt.success)
		}
	}
	if r := routes["shop"]; r.Match != "/shop*" || r.Attempts != 2 || len(r.Targets) != 1 || r.Targets[0].Upstream != "shop" {
		t.Errorf("route shop: got %+v", r.RouteStatus)
	}
	if r := routes["limited"]; !r.RateLimit || r.TimeoutSeconds != 15 {
		t.Errorf("route limited: got rate_limit %v timeout %gs; want true, 15s", r.RateLimit, r.TimeoutSeconds)
	}

	var found int
	for _, u := range s.Upstreams {
		switch u.Name {
		case "ledger":
			found++
			if u.Breaker == nil || u.Breaker.State.String() != "open" || u.Breaker.Trips != 1 || u.Breaker.RemainingSeconds <= 0 {
				t.Errorf("ledger breaker: got %+v; want open once, with time left", u.Breaker)
			}
			if c := u.Concurrency; c == nil || c.Kind != "fixed" || c.Limit != 10 {
				t.Errorf("ledger concurrency: got %+v; want fixed limit 10", c)
			}
		case "shop":
			found++
			if u.Breaker != nil {
				t.Errorf("shop breaker: got %+v; want none", u.Breaker)
			}
			if u.Ejected != 1 || u.Usable != 1 || u.Panic {
				t.Errorf("shop: got ejected %d usable %d panic %v; want 1, 1, false", u.Ejected, u.Usable, u.Panic)
			}
			for _, ep := range u.Endpoints {
				flaky := ep.Address == e.flaky.URL()
				if ep.Ejected != flaky {
					t.Errorf("endpoint %s: got ejected %v; want %v", ep.Address, ep.Ejected, flaky)
				}
				if flaky && !ep.EjectedUntil.After(s.Time.Add(5*time.Minute)) {
					t.Errorf("flaky endpoint: ejected until %v; want about 10m after %v", ep.EjectedUntil, s.Time)
				}
			}
			if u.RetryBudget.Retries != 2 {
				t.Errorf("shop retry budget: got %d retries in the window; want 2", u.RetryBudget.Retries)
			}
		}
	}
	if found != 2 {
		t.Errorf("got %d of the 2 upstreams", found)
	}
}

func TestSeriesJSON(t *testing.T) {
	e := startEnv(t, envOptions{})
	shop, ledger := e.breakThings()
	status, body, _ := e.do("GET", "/status/series", nil, nil)
	if status != 200 {
		t.Fatalf("GET /status/series: got status %d", status)
	}
	var s SeriesStatus
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("GET /status/series: %v\n%.500s", err, body)
	}
	if s.BucketSeconds != 10 || s.WindowSeconds != 900 {
		t.Errorf("got buckets of %gs over %gs; want 10s over 900s", s.BucketSeconds, s.WindowSeconds)
	}
	// The last bucket holds the answer's time.
	if last := s.Start.Add(time.Duration(seriesBuckets-1) * SeriesBucket); s.Start.Unix()%10 != 0 || s.Time.Before(last) || !s.Time.Before(last.Add(SeriesBucket)) {
		t.Errorf("got start %v at %v; want a multiple of 10s whose 90th bucket holds the time", s.Start, s.Time)
	}
	var order []string
	for _, r := range s.Routes {
		order = append(order, r.Route)
	}
	if diff := cmp.Diff([]string{"shop", "ledger", "limited"}, order); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	tests := []struct {
		route              int
		requests, failures int
	}{
		{0, shop, 0},
		{1, ledger, ledger},
		{2, 0, 0},
	}
	for _, tt := range tests {
		r := s.Routes[tt.route]
		for name, n := range map[string]int{"requests": len(r.Requests), "failures": len(r.Failures), "rps": len(r.RPS),
			"success_rate": len(r.SuccessRate), "p50_seconds": len(r.P50Seconds), "p99_seconds": len(r.P99Seconds)} {
			if n != seriesBuckets {
				t.Errorf("route %s: %d values of %s; want %d", r.Route, n, name, seriesBuckets)
			}
		}
		var requests, failures int64
		for i := range r.Requests {
			requests += r.Requests[i]
			failures += r.Failures[i]
		}
		if requests != int64(tt.requests) || failures != int64(tt.failures) {
			t.Errorf("route %s: got %d requests, %d failed; want %d, %d", r.Route, requests, failures, tt.requests, tt.failures)
		}
	}
}

// TestSeriesAt fills the series at explicit times and reads them as GET
// /status/series would at a given time.
func TestSeriesAt(t *testing.T) {
	e := startEnv(t, envOptions{})
	tr := e.metrics.traffic
	tr.record("shop", 200, 2*time.Millisecond, t0.Add(-10*time.Second))
	tr.record("ledger", 503, 2*time.Millisecond, t0)
	tr.record(UnmatchedRoute, 404, time.Millisecond, t0)
	tr.record("gone", 200, time.Millisecond, t0) // a route the config no longer has
	s := e.srv.seriesAt(t0)
	last := seriesBuckets - 1
	want := SeriesStatus{
		Time: t0, Start: t0SeriesBeg, BucketSeconds: 10, WindowSeconds: 900,
		Routes: []RouteSeries{
			seriesOf("shop", map[int]point{last - 1: {1, 0, 0.1, 1, 0.002, 0.002}}),
			seriesOf("ledger", map[int]point{last: {1, 1, 0.2, 0, 0.002, 0.002}}),
			newSeries("limited"),
		},
		Unmatched: seriesOf(UnmatchedRoute, map[int]point{last: {1, 0, 0.2, 1, 0.001, 0.001}}),
		SLOs:      []SLOSeries{}, // none configured: an empty list, not null
	}
	within := cmp.Comparer(func(a, b float64) bool { // percentiles read up to a bin high
		return a == b || (a >= b && a <= b*latencyGrowth) || (b >= a && b <= a*latencyGrowth)
	})
	if diff := cmp.Diff(want, s, within); diff != "" {
		t.Errorf("seriesAt (-want +got):\n%s", diff)
	}
}

// TestHistoryEndpointsGuarded checks that the history endpoints sit behind
// the same guards as GET /status: a foreign Host is refused, and they need
// no token (they change nothing).
func TestHistoryEndpointsGuarded(t *testing.T) {
	e := startEnv(t, envOptions{token: true})
	for _, path := range []string{"/status", "/status/series", "/status/timeline"} {
		if status, body, _ := e.do("GET", path, nil, nil); status != 200 {
			t.Errorf("GET %s without a token: got %d %s; want 200", path, status, body)
		}
		if status, _, _ := e.do("POST", path, nil, nil); status != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: got %d; want 405", path, status)
		}
		req, _ := http.NewRequest("GET", e.base+path, nil)
		req.Host = "attacker.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("GET %s with Host attacker.example: got %d; want 421", path, resp.StatusCode)
		}
	}
}
