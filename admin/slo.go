package admin

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/slo"
)

// The objectives' gauges, read from a [slo.Set] at scrape time: every
// configured objective has them from the first scrape (a full budget, no
// burn), and one a reload removed disappears at once.
var (
	descSLOBudget = prometheus.NewDesc("holdfast_slo_error_budget_remaining_ratio",
		"Share of the objective's error budget left over its window: 1 untouched, 0 spent, below 0 overspent.", []string{"slo", "route"}, nil)
	descSLOBurn = prometheus.NewDesc("holdfast_slo_burn_rate",
		"Share of bad requests over the window divided by the error budget (1 spends the budget in exactly the objective's window), for each tier's long and short window.",
		[]string{"slo", "window"}, nil)
	descSLOFiring = prometheus.NewDesc("holdfast_slo_alert_firing",
		"1 while the tier's burn rate exceeds its threshold over both its long and its short window.", []string{"slo", "tier"}, nil)
	descSLOObjective = prometheus.NewDesc("holdfast_slo_objective_ratio",
		"The objective, as a ratio of good requests (0.999 for 99.9%).", []string{"slo"}, nil)
)

// sloCollector exports the gauges of a set of objectives.
type sloCollector struct{ set *slo.Set }

// WatchSLOs exports the objectives of s on the metrics' registry (at most
// once per Metrics; a second call returns the registry's error).
func (m *Metrics) WatchSLOs(s *slo.Set) error {
	return m.reg.Register(&sloCollector{set: s})
}

func (c *sloCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSLOBudget, descSLOBurn, descSLOFiring, descSLOObjective} {
		ch <- d
	}
}

func (c *sloCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, st := range c.set.Status() {
		gauge(descSLOBudget, st.ErrorBudgetRemaining, st.Name, st.Route)
		// 99.9/100 is 0.9990000000000001 in binary; the ratio is shown as
		// the percentage was written.
		ratio, _ := strconv.ParseFloat(strconv.FormatFloat(st.Objective/100, 'g', 12, 64), 64)
		gauge(descSLOObjective, ratio, st.Name)
		// Tiers share windows (P1's long is P2's short); a window is one
		// series.
		seen := map[float64]bool{}
		burn := func(seconds, v float64) {
			if !seen[seconds] {
				seen[seconds] = true
				gauge(descSLOBurn, v, st.Name, windowLabel(seconds))
			}
		}
		for _, ts := range st.Tiers {
			burn(ts.LongWindowSeconds, ts.LongBurnRate)
			burn(ts.ShortWindowSeconds, ts.ShortBurnRate)
			gauge(descSLOFiring, bool01(ts.Firing), st.Name, ts.Tier)
		}
	}
}

// windowLabel writes a window as the config and Prometheus do: 5m, 1h, 3d.
func windowLabel(seconds float64) string {
	return config.Window(time.Duration(seconds * float64(time.Second))).String()
}

// sloStatus returns the objectives' states for GET /status: a list, empty
// without objectives.
func (s *Server) sloStatus() []slo.Status {
	if s.cfg.SLOs == nil {
		return []slo.Status{}
	}
	return s.cfg.SLOs.Status()
}

// SLOSeries is an objective's history for the status page's charts: its
// error budget left and each tier's burn rates at every sample the alerts'
// evaluation took (one per alerting.interval, the latest
// [slo.HistoryPoints]), oldest first.
type SLOSeries struct {
	Name  string `json:"name"`
	Route string `json:"route"`
	// Objective is the percentage of good events.
	Objective float64 `json:"objective"`
	// TimeMs are the samples' times, in milliseconds since the epoch.
	TimeMs               []int64      `json:"time_ms"`
	ErrorBudgetRemaining []float64    `json:"error_budget_remaining"`
	Tiers                []TierSeries `json:"tiers"`
}

// TierSeries is a tier's burn rates over an objective's history.
type TierSeries struct {
	Tier string `json:"tier"`
	// BurnRate is the tier's threshold; Long and Short its burn rates
	// over its long and short window at each sample.
	BurnRate           float64   `json:"burn_rate"`
	LongWindowSeconds  float64   `json:"long_window_seconds"`
	ShortWindowSeconds float64   `json:"short_window_seconds"`
	Long               []float64 `json:"long"`
	Short              []float64 `json:"short"`
}

// sloSeries returns every objective's history for GET /status/series.
func (s *Server) sloSeries() []SLOSeries {
	out := []SLOSeries{}
	if s.cfg.SLOs == nil {
		return out
	}
	for _, t := range s.cfg.SLOs.Trackers() {
		c, h := t.Config(), t.History()
		ss := SLOSeries{Name: c.Name, Route: c.Route, Objective: c.Objective,
			TimeMs: make([]int64, len(h)), ErrorBudgetRemaining: make([]float64, len(h)),
			Tiers: make([]TierSeries, len(c.Tiers))}
		for i, tier := range c.Tiers {
			ss.Tiers[i] = TierSeries{Tier: tier.Name, BurnRate: tier.BurnRate,
				LongWindowSeconds: tier.Long.Seconds(), ShortWindowSeconds: tier.Short.Seconds(),
				Long: make([]float64, len(h)), Short: make([]float64, len(h))}
		}
		for j, p := range h {
			ss.TimeMs[j] = p.Time.UnixMilli()
			ss.ErrorBudgetRemaining[j] = p.ErrorBudgetRemaining
			for i := range ss.Tiers {
				// A reload that kept the counts keeps the tiers too
				// (slo.Set.Configure), so every point has each tier.
				if i < len(p.Long) {
					ss.Tiers[i].Long[j], ss.Tiers[i].Short[j] = p.Long[i], p.Short[i]
				}
			}
		}
		out = append(out, ss)
	}
	return out
}
