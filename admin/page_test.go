package admin

import (
	"context"
	"html"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium runs headless Chromium on url with extra flags and returns its
// standard output. Virtual time lets the page's one-second polls run
// without the test waiting for them.
func chromium(t *testing.T, url string, extra ...string) string {
	t.Helper()
	bin := requireTool(t, "chromium", "chromium")
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000",
	}
	args = append(append(args, extra...), url)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return string(out)
}

// startTag returns the first start tag in dom that has attr="value", and
// the markup from it to the end of the element (up to the closing tag of
// name).
func startTag(t *testing.T, dom, name, attr, value string) (tag, element string) {
	t.Helper()
	re := regexp.MustCompile(`<` + name + `\b[^>]*\b` + regexp.QuoteMeta(attr+`="`+value+`"`) + `[^>]*>`)
	loc := re.FindStringIndex(dom)
	if loc == nil {
		t.Fatalf("no <%s %s=%q> in the page:\n%s", name, attr, value, dom)
	}
	rest := dom[loc[0]:]
	end := strings.Index(rest, "</"+name+">")
	if end < 0 {
		end = len(rest)
	}
	return dom[loc[0]:loc[1]], rest[:end]
}

// text strips the tags of markup, leaving what a person reads.
func text(markup string) string {
	s := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(markup, " ")
	return strings.Join(strings.Fields(s), " ")
}

// TestStatusPageInChromium loads the status page in a real browser while
// one endpoint is ejected and one breaker is open, and checks what the page
// shows once its script has polled /status.
func TestStatusPageInChromium(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.breakThings()

	dom := chromium(t, e.base+"/", "--dump-dom")

	// The ejected endpoint: marked, and saying so in its row.
	tag, row := startTag(t, dom, "tr", "data-endpoint", e.flaky.URL())
	if !strings.Contains(tag, `data-state="ejected"`) || !strings.Contains(tag, `data-ejected="true"`) {
		t.Errorf("flaky endpoint row: got %s; want data-state ejected", tag)
	}
	if txt := text(row); !strings.Contains(txt, "ejected") || !strings.Contains(txt, "left") {
		t.Errorf("flaky endpoint row reads %q; want ejected with the time left", txt)
	}
	tag, row = startTag(t, dom, "tr", "data-endpoint", e.good.URL())
	if !strings.Contains(tag, `data-state="healthy"`) {
		t.Errorf("good endpoint row: got %s; want data-state healthy", tag)
	}
	if txt := text(row); !strings.Contains(txt, "healthy") || !strings.Contains(txt, "active") {
		t.Errorf("good endpoint row reads %q; want healthy and active", txt)
	}

	// The open breaker, on its upstream's card, and a closed one elsewhere
	// is not shown as open.
	tag, card := startTag(t, dom, "div", "data-upstream", "ledger")
	if !strings.Contains(tag, `data-breaker="open"`) {
		t.Errorf("ledger card: got %s; want data-breaker open", tag)
	}
	if txt := text(card); !strings.Contains(txt, "breaker open") {
		t.Errorf("ledger card reads %q; want breaker open", txt)
	}
	if tag, _ := startTag(t, dom, "div", "data-upstream", "shop"); !strings.Contains(tag, `data-breaker="none"`) {
		t.Errorf("shop card: got %s; want data-breaker none (no breaker configured)", tag)
	}

	// Routes with their recent success rate: shop answered everything
	// (retries hid the flaky endpoint), ledger failed everything.
	_, row = startTag(t, dom, "tr", "data-route", "shop")
	if txt := text(row); !strings.Contains(txt, "100%") || !strings.Contains(txt, "retry ×2") {
		t.Errorf("shop route row reads %q; want 100%% success and retry ×2", txt)
	}
	_, row = startTag(t, dom, "tr", "data-route", "ledger")
	if txt := text(row); !strings.Contains(txt, "0%") {
		t.Errorf("ledger route row reads %q; want 0%% success", txt)
	}
	if _, ready := startTag(t, dom, "span", "id", "ready"); !strings.Contains(text(ready), "ready") {
		t.Errorf("readiness badge reads %q; want ready", text(ready))
	}
	noScriptErrors(t, dom)

	// HOLDFAST_SCREENSHOT=/path.png also saves what the page looks like.
	if path := os.Getenv("HOLDFAST_SCREENSHOT"); path != "" {
		chromium(t, e.base+"/", "--screenshot="+path, "--window-size=1280,900", "--hide-scrollbars")
		t.Logf("screenshot saved to %s", path)
	}
}

// noScriptErrors fails the test if the page's script reported an error
// (app.js counts them in #script-error's data-errors).
func noScriptErrors(t *testing.T, dom string) {
	t.Helper()
	tag, el := startTag(t, dom, "span", "id", "script-error")
	if !strings.Contains(tag, `data-errors="0"`) || !strings.Contains(tag, "hidden") {
		t.Errorf("the page's script failed: %s %s", tag, text(el))
	}
	if _, conn := startTag(t, dom, "span", "id", "conn"); !strings.HasPrefix(text(conn), "updated ") {
		t.Errorf("the page's connection line reads %q; want updated", text(conn))
	}
}

// tagsWith returns the start tags of the name elements that carry every one
// of attrs (such as `data-kind="breaker"`), each with its element's markup
// (up to the first closing tag of name).
func tagsWith(dom, name string, attrs ...string) (tags, elements []string) {
	re := regexp.MustCompile(`<` + name + `\b[^>]*>`)
	for _, loc := range re.FindAllStringIndex(dom, -1) {
		tag := dom[loc[0]:loc[1]]
		ok := true
		for _, a := range attrs {
			ok = ok && strings.Contains(tag, " "+a)
		}
		if !ok {
			continue
		}
		rest := dom[loc[0]:]
		if end := strings.Index(rest, "</"+name+">"); end >= 0 {
			rest = rest[:end]
		}
		tags, elements = append(tags, tag), append(elements, rest)
	}
	return tags, elements
}

// attr returns the value of attribute name in a start tag.
func attr(tag, name string) (string, bool) {
	m := regexp.MustCompile(`\s` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return "", false
	}
	return html.UnescapeString(m[1]), true
}

// show prints a chart value: a number, or "a gap".
func show(v *float64) string {
	if v == nil {
		return "a gap"
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

// pathPoints parses the "M x,y L x,y ..." of a chart's line.
func pathPoints(t *testing.T, d string) [][2]float64 {
	t.Helper()
	var pts [][2]float64
	for _, f := range strings.Fields(d) {
		xy := strings.Split(strings.TrimLeft(f, "ML"), ",")
		if len(xy) != 2 {
			t.Fatalf("path d %q: cannot read %q", d, f)
		}
		x, err1 := strconv.ParseFloat(xy[0], 64)
		y, err2 := strconv.ParseFloat(xy[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("path d %q: cannot read %q", d, f)
		}
		pts = append(pts, [2]float64{x, y})
	}
	return pts
}

// chartLine returns the data-values (nil for a gap) and the path of route's
// chart of metric, line series.
func chartLine(t *testing.T, dom, route, metric, series string) (values []*float64, d, chart string) {
	t.Helper()
	charts, elements := tagsWith(dom, "svg", `data-route="`+route+`"`, `data-metric="`+metric+`"`)
	if len(charts) != 1 {
		t.Fatalf("got %d charts of route %s, metric %s; want one", len(charts), route, metric)
	}
	chart = elements[0]
	tags, _ := tagsWith(chart, "path", `data-series="`+series+`"`)
	if len(tags) != 1 {
		t.Fatalf("route %s chart %s: got %d lines %s; want one", route, metric, len(tags), series)
	}
	d, _ = attr(tags[0], "d")
	raw, _ := attr(tags[0], "data-values")
	for _, v := range strings.Split(raw, ",") {
		if v == "" {
			values = append(values, nil)
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("route %s chart %s: data-values %q: %v", route, metric, raw, err)
		}
		values = append(values, &f)
	}
	if len(values) != seriesBuckets {
		t.Fatalf("route %s chart %s: got %d values; want %d", route, metric, len(values), seriesBuckets)
	}
	return values, d, chart
}

// TestStatusPageHistoryInChromium breaks a live proxy after a quiet history
// and checks, in a real browser, that the page's timeline lists what broke
// and that the route's success chart dips when it did.
func TestStatusPageHistoryInChromium(t *testing.T) {
	e := startTimelineEnv(t)
	// Five minutes of good ledger traffic before now, five requests per
	// bucket: the history the fault then breaks.
	start := time.Now()
	for k := 1; k <= 30; k++ {
		for range 5 {
			e.metrics.traffic.record("ledger", 200, 5*time.Millisecond, start.Add(-time.Duration(k)*SeriesBucket))
		}
	}
	e.fault()

	dom := chromium(t, e.base+"/", "--dump-dom")
	noScriptErrors(t, dom)

	// The timeline, newest first: every fault, each once.
	tests := []struct {
		attrs []string
		reads string
	}{
		{[]string{`data-kind="breaker"`, `data-subject="ledger"`, `data-from="closed"`, `data-to="open"`}, "breaker of ledger: closed → open"},
		{[]string{`data-kind="endpoint"`, `data-subject="shop"`, `data-to="ejected"`, `data-endpoint="` + e.flaky.URL() + `"`}, "shop endpoint " + e.flaky.URL() + ": active → ejected"},
		{[]string{`data-kind="endpoint"`, `data-subject="standby"`, `data-to="ejected"`, `data-endpoint="` + e.primary.URL() + `"`}, "standby endpoint " + e.primary.URL() + ": active → ejected"},
		{[]string{`data-kind="failover"`, `data-subject="standby"`, `data-from="0"`, `data-to="1"`}, "standby: traffic moved from priority 0 to priority 1"},
		{[]string{`data-kind="reload"`, `data-to="ok"`}, "config reloaded"},
		{[]string{`data-kind="reload"`, `data-to="failed"`}, "reload refused; the running config keeps serving " + errReloadRejected.Error()},
	}
	for _, tt := range tests {
		tags, entries := tagsWith(dom, "li", tt.attrs...)
		if len(tags) != 1 {
			t.Errorf("timeline: got %d entries with %v; want 1", len(tags), tt.attrs)
			continue
		}
		if txt := text(entries[0]); !strings.Contains(txt, tt.reads) {
			t.Errorf("timeline entry %v reads %q; want it to contain %q", tt.attrs, txt, tt.reads)
		}
	}
	if ids, _ := tagsWith(dom, "li", `class="event"`); len(ids) != len(tests) {
		t.Errorf("timeline: got %d entries; want %d", len(ids), len(tests))
	} else if first, _ := attr(ids[0], "data-kind"); first != "reload" {
		t.Errorf("timeline: the first entry is a %s; want the newest, the refused reload", first)
	}

	// The ledger's success chart: 100% through the history, then the dip,
	// drawn lower on the chart than where it started.
	values, d, chart := chartLine(t, dom, "ledger", "success_rate", "success")
	var known []float64
	first := -1 // the first bucket with requests: the oldest of the history
	for i, v := range values {
		if v != nil {
			known = append(known, *v)
			if first < 0 {
				first = i
			}
		}
	}
	if len(known) < 31 {
		t.Fatalf("ledger success chart: %d buckets with requests; want the 30 of the history and the fault's", len(known))
	}
	for i, v := range known[:30] {
		if v != 1 {
			t.Errorf("ledger success chart: history bucket %d reads %g; want 1", i, v)
		}
	}
	if dip := known[len(known)-1]; dip >= 0.8 {
		t.Errorf("ledger success chart: the last bucket reads %g; want the dip below 0.8 (2+ of the last 5+ requests failed)", dip)
	}
	pts := pathPoints(t, d)
	if len(pts) != len(known) {
		t.Fatalf("ledger success chart: the line has %d points for %d values", len(pts), len(known))
	}
	if first, last := pts[0], pts[len(pts)-1]; !(last[1] > first[1]+10) || !(last[0] > first[0]) {
		t.Errorf("ledger success chart: the line goes from %v to %v; want it to end right of and well below where it started", first, last)
	}
	// The breaker's opening is marked on the chart.
	if marks, _ := tagsWith(chart, "line", `data-kind="breaker"`); len(marks) != 1 || !strings.Contains(marks[0], "sev-bad") {
		t.Errorf("ledger success chart: got breaker markers %q; want one, marked bad", marks)
	}

	// Its request rate: half a request a second through the history; and
	// its latency, both lines, at 5 ms (up to a bin's bound above).
	rps, _, _ := chartLine(t, dom, "ledger", "rps", "rps")
	p50, _, _ := chartLine(t, dom, "ledger", "latency", "p50")
	p99, _, _ := chartLine(t, dom, "ledger", "latency", "p99")
	for i := first; i < first+30; i++ {
		if v := rps[i]; v == nil || *v != 0.5 {
			t.Errorf("ledger rps chart: history bucket %d reads %s; want 0.5", i, show(v))
		}
		for name, q := range map[string][]*float64{"p50": p50, "p99": p99} {
			if v := q[i]; v == nil || *v < 0.005 || *v > 0.005*latencyGrowth {
				t.Errorf("ledger latency chart: history bucket %d's %s reads %s; want 5 ms up to a bin above", i, name, show(v))
			}
		}
	}
	// The standby route's chart marks its failover.
	_, _, standby := chartLine(t, dom, "standby", "success_rate", "success")
	if marks, _ := tagsWith(standby, "line", `data-kind="failover"`); len(marks) != 1 {
		t.Errorf("standby success chart: got failover markers %q; want one", marks)
	}

	if path := os.Getenv("HOLDFAST_SCREENSHOT"); path != "" {
		chromium(t, e.base+"/", "--screenshot="+path, "--window-size=1280,2400", "--hide-scrollbars")
		t.Logf("screenshot saved to %s", path)
	}
}
