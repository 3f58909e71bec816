package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/holdfast-dev/holdfast/proxy"
)

// quiescingRoute is a route of the env whose check every answer of shop
// breaks, which quiesces after two such requests.
const quiescingRoute = `  - name: quiescing
    match: {path_prefix: /quiescing}
    upstream: shop
    retry: {attempts: 1}
    checks: [{status: [201]}]
    quiesce: {after: 1ns, min_requests: 1, probe_interval: 1h%s}
`

func TestQuiesceMetricsStatusAndReadyz(t *testing.T) {
	for _, failReadyz := range []bool{false, true} {
		extra := ""
		if failReadyz {
			extra = ", fail_readyz: true"
		}
		e := startEnv(t, envOptions{extra: fmt.Sprintf(quiescingRoute, extra)})
		series := []struct {
			name   string
			labels l
		}{
			{"holdfast_route_quiesced", l{"route": "quiescing"}},
			{"holdfast_route_quiesces_total", l{"route": "quiescing"}},
			{"holdfast_route_quiesce_webhooks_total", l{"route": "quiescing", "outcome": "sent"}},
			{"holdfast_route_quiesce_webhooks_total", l{"route": "quiescing", "outcome": "failed"}},
			{"holdfast_route_quiesce_webhooks_total", l{"route": "quiescing", "outcome": "dropped"}},
			{"holdfast_route_local_replies_total", l{"route": "quiescing", "reason": "quiesced"}},
		}
		fams := families(t, e.metrics)
		for _, s := range series {
			if v, ok := sample(fams, s.name, s.labels); !ok || v != 0 {
				t.Errorf("%s%v = %v, %v before any request; want 0, present", s.name, s.labels, v, ok)
			}
		}
		// The streak must last after (1ns): two wrong answers.
		for range 2 {
			if got := e.send("/quiescing/1"); got != http.StatusBadGateway {
				t.Fatalf("got %d; want 502 invariant_violation", got)
			}
		}
		if got := e.send("/quiescing/1"); got != http.StatusServiceUnavailable {
			t.Fatalf("third request: %d; want 503 quiesced", got)
		}
		fams = families(t, e.metrics)
		for _, s := range []struct {
			name   string
			labels l
		}{series[0], series[1], series[5]} {
			if v, _ := sample(fams, s.name, s.labels); v != 1 {
				t.Errorf("%s%v = %v; want 1", s.name, s.labels, v)
			}
		}

		status, body, _ := e.do("GET", "/readyz", nil, nil)
		var rd struct {
			Ready          bool     `json:"ready"`
			QuiescedRoutes []string `json:"quiesced_routes"`
		}
		if err := json.Unmarshal([]byte(body), &rd); err != nil || len(rd.QuiescedRoutes) != 1 || rd.QuiescedRoutes[0] != "quiescing" {
			t.Errorf("GET /readyz: %s %v; want quiesced_routes [quiescing]", body, err)
		}
		if want := map[bool]int{false: 200, true: 503}[failReadyz]; status != want || rd.Ready != !failReadyz {
			t.Errorf("fail_readyz %v: GET /readyz %d ready %v; want %d", failReadyz, status, rd.Ready, want)
		}

		status, body, _ = e.do("GET", "/status", nil, nil)
		var st struct {
			Routes []proxy.RouteStatus `json:"routes"`
		}
		if err := json.Unmarshal([]byte(body), &st); status != 200 || err != nil {
			t.Fatalf("GET /status: %d %v", status, err)
		}
		var qs *proxy.QuiesceStatus
		for _, r := range st.Routes {
			if r.Name == "quiescing" {
				qs = r.Quiesce
			}
		}
		if qs == nil || !qs.Quiesced || qs.Report == nil || qs.Report.Invariant != "checks[0] (status in [201])" {
			t.Errorf("/status quiesce = %+v; want quiesced, with a report naming checks[0]", qs)
		}
	}
}
