package drill

import (
	"strings"
	"testing"
)

// sloPage is holdfast's SLO gauges for objective a, whose P0 fires, and b,
// whose does not.
const sloPage = `# TYPE holdfast_slo_error_budget_remaining_ratio gauge
holdfast_slo_error_budget_remaining_ratio{route="r",slo="a"} 0.85
holdfast_slo_error_budget_remaining_ratio{route="r",slo="b"} 0.995
holdfast_slo_alert_firing{slo="a",tier="P0"} 1
holdfast_slo_alert_firing{slo="a",tier="P1"} 0
holdfast_slo_alert_firing{slo="b",tier="P0"} 0
`

func TestJudgeSLO(t *testing.T) {
	samples, err := ParseMetrics([]byte(sloPage))
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		probe  SLOProbe
		met    bool
		detail string
	}{
		{SLOProbe{Name: "a", Tier: "P0"}, false, "P0 of a fires: its burn rate exceeds the threshold over both windows (85% of the error budget left)"},
		{SLOProbe{Name: "a", Tier: "P1"}, true, "P1 quiet, 85% of the error budget left of a"},
		{SLOProbe{Name: "a", Tier: "P1", MinErrorBudgetRemaining: f(0.9)}, false, "85% of the error budget left of a, want ≥ 90%"},
		{SLOProbe{Name: "b", Tier: "P0", MinErrorBudgetRemaining: f(0.99)}, true, "P0 quiet, 99.5% of the error budget left of b"},
		{SLOProbe{Name: "b", MinErrorBudgetRemaining: f(0.999)}, false, "99.5% of the error budget left of b, want ≥ 99.9%"},
		{SLOProbe{Name: "b", Tier: "P9"}, false, `objective "b" has no tier "P9"`},
		{SLOProbe{Name: "c", Tier: "P0"}, false, `no objective "c" on the page`},
	}
	for _, tt := range tests {
		v := judgeSLO(&tt.probe, samples)
		if v.met != tt.met || !strings.HasPrefix(v.detail, tt.detail) {
			t.Errorf("judgeSLO(%+v): got met %v %q; want %v %q", tt.probe, v.met, v.detail, tt.met, tt.detail)
		}
	}
}
