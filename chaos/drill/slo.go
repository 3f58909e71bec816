package drill

import (
	"fmt"
	"time"
)

// SLOProbe judges one of holdfast's service-level objectives from the
// proxy's /metrics page, so that a drill stops before it spends more of the
// error budget than it may: it fails while the objective's Tier fires (the
// burn rate over both the tier's windows exceeds its threshold, as
// holdfast's alert would page) and when the budget left falls below
// MinErrorBudgetRemaining. At least one of the two is set.
type SLOProbe struct {
	// URL is holdfast's admin /metrics page. Required.
	URL string `yaml:"url" json:"url"`
	// Name is the objective's name (its slo label). Required.
	Name string `yaml:"name" json:"name"`
	// Tier, such as P0, fails the probe while it fires.
	Tier string `yaml:"tier,omitempty" json:"tier,omitempty"`
	// MinErrorBudgetRemaining, in [0, 1], fails the probe when less of
	// the budget is left: 0.9 lets the drill spend a tenth of it.
	MinErrorBudgetRemaining *float64 `yaml:"min_error_budget_remaining,omitempty" json:"min_error_budget_remaining,omitempty"`
	// Headers are sent with the request (such as an Authorization).
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Timeout bounds the request. Default 5s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// The gauges an SLO probe reads, as holdfast's admin server exports them
// (docs/slo.md).
const (
	metricSLOFiring = "holdfast_slo_alert_firing"
	metricSLOBudget = "holdfast_slo_error_budget_remaining_ratio"
)

// metricProbe is the metric probe that reads p's page.
func (p *SLOProbe) metricProbe() *MetricProbe {
	return &MetricProbe{URL: p.URL, Headers: p.Headers, Timeout: p.Timeout}
}

// judgeSLO decides an SLO probe from the samples of holdfast's page.
func judgeSLO(p *SLOProbe, samples []Sample) verdict {
	out := map[string]any{"slo": p.Name}
	budget, haveBudget := 0.0, false
	firing, haveFiring := 0.0, false
	for _, s := range samples {
		if s.Labels["slo"] != p.Name {
			continue
		}
		switch {
		case s.Name == metricSLOBudget:
			budget, haveBudget = s.Value, true
		case s.Name == metricSLOFiring && s.Labels["tier"] == p.Tier:
			firing, haveFiring = s.Value, true
		}
	}
	if !haveBudget {
		return verdict{detail: fmt.Sprintf("no objective %q on the page (%s{slo=%q})", p.Name, metricSLOBudget, p.Name), output: out}
	}
	out["error_budget_remaining"] = jsonFloat(budget)
	left := fmt.Sprintf("%s%% of the error budget left", fmtFloat(budget*100))
	if p.Tier != "" {
		if !haveFiring {
			return verdict{detail: fmt.Sprintf("objective %q has no tier %q", p.Name, p.Tier), output: out}
		}
		out["firing"] = firing == 1
		if firing == 1 {
			return verdict{detail: fmt.Sprintf("%s of %s fires: its burn rate exceeds the threshold over both windows (%s)", p.Tier, p.Name, left), output: out}
		}
	}
	if m := p.MinErrorBudgetRemaining; m != nil && !(budget >= *m) {
		return verdict{detail: fmt.Sprintf("%s of %s, want ≥ %s%%", left, p.Name, fmtFloat(*m*100)), output: out}
	}
	detail := left + " of " + p.Name
	if p.Tier != "" {
		detail = p.Tier + " quiet, " + detail
	}
	return verdict{met: true, detail: detail, output: out}
}
