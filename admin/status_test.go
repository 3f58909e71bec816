package admin

import (
	"encoding/json"
	"testing"
	"time"
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
