package admin

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/slo"
)

const sloTop = `slos:
  - {name: shop-availability, route: shop, objective: 99.9, window: 30d, good: {status_below: 500}}
`

// startSLOServer starts an admin server for e's proxy that reports set,
// with metrics of its own, and returns its base URL.
func startSLOServer(t *testing.T, e *env, set *slo.Set) (string, *Metrics) {
	t.Helper()
	m := NewMetrics()
	m.Watch(e.proxy)
	if err := m.WatchSLOs(set); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchSLOs(set); err == nil {
		t.Error("a second WatchSLOs succeeded; want the registry's error")
	}
	srv, err := New(Config{Admin: config.Admin{Listen: "127.0.0.1:0"}, Proxy: e.proxy, Metrics: m, SLOs: set})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return "http://" + srv.Addr(), m
}

// sloGauge returns the value of the gauge name whose labels include
// labels (name=value pairs), or NaN.
func sloGauge(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	fams, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, mt := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range mt.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return mt.GetGauge().GetValue()
		}
	}
	return math.NaN()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// TestSLOMetricsAndStatus: every objective is in /metrics from the first
// scrape (a full budget, no burn, nothing firing), and /metrics and
// /status show what the set counted.
func TestSLOMetricsAndStatus(t *testing.T) {
	e := startEnv(t, envOptions{top: sloTop})
	set, err := slo.NewSet(e.proxy.Config().Objectives())
	if err != nil {
		t.Fatal(err)
	}
	base, m := startSLOServer(t, e, set)

	first := []string{
		`holdfast_slo_error_budget_remaining_ratio{route="shop",slo="shop-availability"} 1`,
		`holdfast_slo_objective_ratio{slo="shop-availability"} 0.999`,
		`holdfast_slo_burn_rate{slo="shop-availability",window="5m"} 0`,
		`holdfast_slo_burn_rate{slo="shop-availability",window="1h"} 0`,
		`holdfast_slo_burn_rate{slo="shop-availability",window="6h"} 0`,
		`holdfast_slo_burn_rate{slo="shop-availability",window="30m"} 0`,
		`holdfast_slo_burn_rate{slo="shop-availability",window="3d"} 0`,
		`holdfast_slo_alert_firing{slo="shop-availability",tier="P0"} 0`,
		`holdfast_slo_alert_firing{slo="shop-availability",tier="P2"} 0`,
	}
	body := get(t, base+"/metrics")
	for _, want := range first {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("first scrape lacks %s", want)
		}
	}
	if n := strings.Count(body, "holdfast_slo_burn_rate{"); n != 5 {
		t.Errorf("%d burn rate series; want 5 (P1's long window is P2's short)", n)
	}

	// 1% of a thousand requests failed a moment ago: ten times the budget.
	now := time.Now()
	for i := range 1000 {
		status := 200
		if i%100 == 0 {
			status = 503
		}
		set.RecordAt("shop", status, time.Millisecond, now)
	}
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"holdfast_slo_error_budget_remaining_ratio", nil, -9},
		{"holdfast_slo_burn_rate", []string{"window", "5m"}, 10},
		{"holdfast_slo_burn_rate", []string{"window", "3d"}, 10},
		{"holdfast_slo_alert_firing", []string{"tier", "P0"}, 0}, // 10 < 14.4
		{"holdfast_slo_alert_firing", []string{"tier", "P1"}, 1},
		{"holdfast_slo_alert_firing", []string{"tier", "P2"}, 1},
	}
	for _, tt := range tests {
		got := sloGauge(t, m, tt.name, append([]string{"slo", "shop-availability"}, tt.labels...)...)
		if math.Abs(got-tt.want) > 1e-9*math.Max(1, math.Abs(tt.want)) {
			t.Errorf("%s%v = %v; want %v", tt.name, tt.labels, got, tt.want)
		}
	}

	var st Status
	if err := json.Unmarshal([]byte(get(t, base+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.SLOs) != 1 || st.SLOs[0].Name != "shop-availability" || st.SLOs[0].Events != 1000 || st.SLOs[0].BadEvents != 10 {
		t.Fatalf("GET /status slos = %+v; want shop-availability with 10 bad of 1000", st.SLOs)
	}
	if tiers := st.SLOs[0].Tiers; len(tiers) != 3 || tiers[0].Tier != "P0" || tiers[0].Firing || !tiers[1].Firing {
		t.Errorf("GET /status tiers = %+v; want P0 not firing, P1 firing", tiers)
	}

	// Without objectives, /status has an empty list, not null.
	var plain map[string]json.RawMessage
	if err := json.Unmarshal([]byte(get(t, e.base+"/status")), &plain); err != nil {
		t.Fatal(err)
	}
	if got := string(plain["slos"]); got != "[]" {
		t.Errorf("GET /status without objectives: slos = %s; want []", got)
	}
}
