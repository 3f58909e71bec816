package admin

import "testing"

// checkedRoute is a route of the env whose first check every answer of
// shop breaks (200 or 500, never 201) and whose second it is not judged by.
const checkedRoute = `  - name: checked
    match: {path_prefix: /checked}
    upstream: shop
    retry: {attempts: 1}
    checks: [{status: [201]}, {header: {name: content-type}}]
`

func TestCheckMetrics(t *testing.T) {
	e := startEnv(t, envOptions{extra: checkedRoute})
	v0 := l{"route": "checked", "check": "checks[0]"}
	v1 := l{"route": "checked", "check": "checks[1]"}
	for _, want := range []struct {
		labels l
		name   string
	}{{v0, "holdfast_route_check_violations_total"}, {v1, "holdfast_route_check_violations_total"}, {l{"route": "checked"}, "holdfast_route_check_oversize_total"}} {
		if got, ok := sample(families(t, e.metrics), want.name, want.labels); !ok || got != 0 {
			t.Errorf("before traffic %s%v = %v (present %v); want 0", want.name, want.labels, got, ok)
		}
	}
	if _, ok := sample(families(t, e.metrics), "holdfast_route_check_violations_total", l{"route": "shop"}); ok {
		t.Error("a route without checks has a violations series; want none")
	}
	if got := e.send("/checked/x"); got != 502 {
		t.Fatalf("GET /checked/x: got %d; want 502 invariant_violation", got)
	}
	fams := families(t, e.metrics)
	if got, _ := sample(fams, "holdfast_route_check_violations_total", v0); got != 1 {
		t.Errorf("checks[0] violations = %v; want 1", got)
	}
	if got, _ := sample(fams, "holdfast_route_check_violations_total", v1); got != 0 {
		t.Errorf("checks[1] violations = %v; want 0 (the first check broken decides)", got)
	}
	if got, _ := sample(fams, "holdfast_route_local_replies_total", l{"route": "checked", "reason": "invariant_violation"}); got != 1 {
		t.Errorf("local replies invariant_violation = %v; want 1", got)
	}
}
