package admin

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/slo"
)

// TestSLOSeriesAndPageInChromium samples an objective through a good half
// hour and then an outage, and checks that GET /status/series holds that
// history and that the status page, in a real browser, shows the budget
// left, the firing tier, and the charts of budget and burn over time.
func TestSLOSeriesAndPageInChromium(t *testing.T) {
	e := startEnv(t, envOptions{top: sloTop})
	set, err := slo.NewSet(e.proxy.Config().Objectives())
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startSLOServer(t, e, set)

	// Thirty samples a minute apart of good traffic, then ten minutes of
	// an outage (every request fails), sampled each minute too: what the
	// alerts' evaluation does, at explicit times.
	now := time.Now().Truncate(time.Minute)
	start := now.Add(-40 * time.Minute)
	for m := range 40 {
		at := start.Add(time.Duration(m) * time.Minute)
		status := 200
		if m >= 30 {
			status = 503
		}
		for range 100 {
			set.RecordAt("shop", status, time.Millisecond, at)
		}
		set.SampleAt(at.Add(30 * time.Second))
	}

	var series SeriesStatus
	if err := json.Unmarshal([]byte(get(t, base+"/status/series")), &series); err != nil {
		t.Fatal(err)
	}
	if len(series.SLOs) != 1 {
		t.Fatalf("GET /status/series slos = %+v; want shop-availability", series.SLOs)
	}
	ss := series.SLOs[0]
	if ss.Name != "shop-availability" || ss.Route != "shop" || len(ss.TimeMs) != 40 || len(ss.ErrorBudgetRemaining) != 40 || len(ss.Tiers) != 3 {
		t.Fatalf("series = %s/%s with %d times, %d budgets, %d tiers; want 40 samples of 3 tiers", ss.Name, ss.Route, len(ss.TimeMs), len(ss.ErrorBudgetRemaining), len(ss.Tiers))
	}
	if ss.ErrorBudgetRemaining[29] != 1 || ss.Tiers[0].Long[29] != 0 {
		t.Errorf("after the good half hour: budget %v, P0 long burn %v; want 1 and 0", ss.ErrorBudgetRemaining[29], ss.Tiers[0].Long[29])
	}
	last := len(ss.TimeMs) - 1
	if ss.ErrorBudgetRemaining[last] >= 0 {
		t.Errorf("after ten minutes of outage the budget left reads %v; want it spent (below 0)", ss.ErrorBudgetRemaining[last])
	}
	if p0 := ss.Tiers[0]; p0.Tier != "P0" || p0.Long[last] <= p0.BurnRate || p0.Short[last] <= p0.BurnRate {
		t.Errorf("P0 at the end: long %v, short %v; want both above %v", p0.Long[last], p0.Short[last], p0.BurnRate)
	}
	if want := start.Add(39*time.Minute + 30*time.Second).UnixMilli(); ss.TimeMs[last] != want {
		t.Errorf("last sample at %d; want %d", ss.TimeMs[last], want)
	}

	dom := chromium(t, base+"/", "--dump-dom")
	noScriptErrors(t, dom)
	rows, elems := tagsWith(dom, "tr", `data-slo="shop-availability"`)
	if len(rows) != 1 {
		t.Fatalf("got %d rows of shop-availability in the objectives table; want 1", len(rows))
	}
	row := text(elems[0])
	for _, want := range []string{"shop-availability", "shop", "99.9%", "30d"} {
		if !strings.Contains(row, want) {
			t.Errorf("objectives row reads %q; want it to contain %q", row, want)
		}
	}
	if tiers, _ := tagsWith(elems[0], "span", `data-tier="P0"`, `data-firing="true"`); len(tiers) != 1 {
		t.Errorf("objectives row %q: P0 not marked firing", row)
	}

	budget := sloChartValues(t, dom, "error_budget", "budget")
	if len(budget) != 40 || budget[0] != 1 || budget[29] != 1 || budget[39] >= 0 {
		t.Errorf("budget chart values %v; want 40, 1 through the good half hour, below 0 at the end", budget)
	}
	burn := sloChartValues(t, dom, "burn_rate", "burn-p0")
	if len(burn) != 40 || burn[29] != 0 || burn[39] <= 14.4 {
		t.Errorf("P0 burn chart values %v; want 40, 0 before the outage, above 14.4 at the end", burn)
	}
	if path := os.Getenv("HOLDFAST_SCREENSHOT"); path != "" {
		chromium(t, base+"/", "--screenshot="+path, "--window-size=1280,1400", "--hide-scrollbars")
		t.Logf("screenshot saved to %s", path)
	}
}

// sloChartValues returns the values of the line series of an objective's
// chart of metric, which the page draws for route shop.
func sloChartValues(t *testing.T, dom, metric, series string) []float64 {
	t.Helper()
	charts, elements := tagsWith(dom, "svg", `data-route="shop"`, `data-metric="`+metric+`"`)
	if len(charts) != 1 {
		t.Fatalf("got %d charts %s; want one", len(charts), metric)
	}
	tags, _ := tagsWith(elements[0], "path", `data-series="`+series+`"`)
	if len(tags) != 1 {
		t.Fatalf("chart %s: got %d lines %s; want one", metric, len(tags), series)
	}
	raw, _ := attr(tags[0], "data-values")
	var out []float64
	for _, v := range strings.Split(raw, ",") {
		var f float64
		if err := json.Unmarshal([]byte(v), &f); err != nil {
			t.Fatalf("chart %s: data-values %q: %v", metric, raw, err)
		}
		out = append(out, f)
	}
	return out
}

// TestSLOChartPlacesSamplesByTime: samples that stopped for twenty minutes
// (a process stopped, say) leave a gap of that width in the charts instead
// of the two stretches drawn as one; and the tiers' burn lines, which read
// alike early on, are drawn in widths that keep each one visible.
func TestSLOChartPlacesSamplesByTime(t *testing.T) {
	e := startEnv(t, envOptions{top: sloTop})
	set, err := slo.NewSet(e.proxy.Config().Objectives())
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startSLOServer(t, e, set)
	start := time.Now().Truncate(time.Minute).Add(-50 * time.Minute)
	var minutes []int
	for m := range 20 {
		minutes = append(minutes, m)
	}
	for m := 40; m < 50; m++ {
		minutes = append(minutes, m)
	}
	for _, m := range minutes {
		at := start.Add(time.Duration(m) * time.Minute)
		for range 100 {
			set.RecordAt("shop", 200, time.Millisecond, at)
		}
		set.SampleAt(at.Add(30 * time.Second))
	}

	dom := chromium(t, base+"/", "--dump-dom")
	noScriptErrors(t, dom)
	charts, elements := tagsWith(dom, "svg", `data-route="shop"`, `data-metric="error_budget"`)
	if len(charts) != 1 {
		t.Fatalf("got %d budget charts; want one", len(charts))
	}
	tags, _ := tagsWith(elements[0], "path", `data-series="budget"`)
	if len(tags) != 1 {
		t.Fatalf("got %d budget lines; want one", len(tags))
	}
	raw, _ := attr(tags[0], "data-values")
	vals := strings.Split(raw, ",")
	// Minutes 0 to 49 a minute apart: 50 buckets, 20 to 39 empty.
	if len(vals) != 50 {
		t.Fatalf("budget chart has %d buckets (%q); want 50, one a minute over the 50 minutes", len(vals), raw)
	}
	for i, v := range vals {
		if empty := i >= 20 && i < 40; empty != (v == "") {
			t.Errorf("bucket %d reads %q; want it empty exactly in minutes 20 to 39", i, v)
		}
	}

	_, burnChart := tagsWith(dom, "svg", `data-route="shop"`, `data-metric="burn_rate"`)
	if len(burnChart) != 1 {
		t.Fatalf("got %d burn charts; want one", len(burnChart))
	}
	widths := map[string]string{}
	for _, tier := range []string{"p0", "p1", "p2"} {
		tags, _ := tagsWith(burnChart[0], "path", `data-series="burn-`+tier+`"`)
		if len(tags) != 1 {
			t.Fatalf("got %d burn-%s lines; want one", len(tags), tier)
		}
		style, _ := attr(tags[0], "style")
		widths[tier] = style
	}
	if widths["p0"] == widths["p1"] || widths["p1"] == widths["p2"] || widths["p0"] == widths["p2"] {
		t.Errorf("burn lines' styles %v; want a different width for each tier, so coinciding lines all show", widths)
	}
}
