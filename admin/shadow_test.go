package admin

import (
	"encoding/json"
	"testing"
	"time"
)

// shadowRoute shadows the env's shop route with ledger, which fails every
// request with a 500.
const shadowRoute = `  - name: shadowed
    match: {path_prefix: /shadowed}
    upstream: shop
    retry: {attempts: 1}
    shadow: {upstream: ledger, percent: 100}
`

func TestShadowMetricsAndAPI(t *testing.T) {
	e := startEnv(t, envOptions{extra: shadowRoute})
	series := []struct {
		name   string
		labels l
	}{
		{"holdfast_route_shadow_requests_total", l{"route": "shadowed", "outcome": "compared"}},
		{"holdfast_route_shadow_requests_total", l{"route": "shadowed", "outcome": "dropped"}},
		{"holdfast_route_shadow_requests_total", l{"route": "shadowed", "outcome": "oversize"}},
		{"holdfast_route_shadow_requests_total", l{"route": "shadowed", "outcome": "candidate_failed"}},
		{"holdfast_route_shadow_requests_total", l{"route": "shadowed", "outcome": "secondary_failed"}},
		{"holdfast_route_shadow_differences_total", l{"route": "shadowed", "kind": "real"}},
		{"holdfast_route_shadow_differences_total", l{"route": "shadowed", "kind": "noise"}},
		{"holdfast_route_shadow_differing_total", l{"route": "shadowed"}},
	}
	fams := families(t, e.metrics)
	for _, s := range series {
		if v, ok := sample(fams, s.name, s.labels); !ok || v != 0 {
			t.Errorf("%s%v = %v, %v before any request; want 0, present", s.name, s.labels, v, ok)
		}
	}

	e.send("/shadowed/1")
	var body string
	deadline := time.Now().Add(waitLimit)
	var got shadowDifferences
	for {
		var status int
		status, body, _ = e.do("GET", "/shadow/differences", nil, nil)
		if err := json.Unmarshal([]byte(body), &got); status != 200 || err != nil || len(got.Routes) != 1 {
			t.Fatalf("GET /shadow/differences: %d %q %v; want 200 and one route", status, body, err)
		}
		if got.Routes[0].Compared == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /shadow/differences: %s; want one comparison", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := got.Routes[0]; r.Route != "shadowed" || r.Candidate != "ledger" || r.Secondary != "shop" || r.Shadowed != 1 {
		t.Errorf("GET /shadow/differences: %s; want route shadowed, candidate ledger, secondary shop, 1 shadowed", body)
	}
	if v, _ := sample(families(t, e.metrics), "holdfast_route_shadow_requests_total", l{"route": "shadowed", "outcome": "compared"}); v != 1 {
		t.Errorf("compared = %v; want 1", v)
	}
}
