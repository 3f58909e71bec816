package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

const rulesConfig = `upstreams:
  a:
    endpoints: [{address: http://127.0.0.1:1}]
routes:
  - name: checkout
    upstream: a
  - name: search
    upstream: a
slos:
  - name: checkout-availability
    route: checkout
    objective: 99.9
    window: 30d
    good: {status_below: 500}
  - name: search-latency
    route: search
    objective: 99
    window: 7d
    good: {latency_below: 300ms, status_below: 500}
`

// quickTiers makes every tier's windows short, so that promtool tests a
// mutated rule file in little time.
const quickTiers = `alerting:
  tiers:
    P0: {burn_rate: 14.4, long: 1h, short: 5m}
    P1: {burn_rate: 6, long: 2h, short: 10m}
    P2: {burn_rate: 2, long: 3h, short: 15m}
`

// writeRules runs holdfast rules through the command table on src and
// returns the paths of the rules and test files it wrote.
func writeRules(t *testing.T, src string) (rules, tests string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "holdfast.yaml")
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, tests = filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "rules_test.yaml")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "-c", cfg, "-o", rules, "-test", tests}, &stdout, &stderr); code != rulesOK {
		t.Fatalf("holdfast rules: exit %d; want 0\n%s", code, stderr.String())
	}
	return rules, tests
}

func promtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(lookTool(t, "promtool"), args...).CombinedOutput()
	return string(out), err
}

// TestRulesPromtool: the rules pass promtool check rules, and the test
// file holdfast writes passes promtool test rules: every tier of both
// objectives (availability, and latency with status) is quiet before its
// long window crosses the threshold, fires after, and resolves when its
// short window is clean again.
func TestRulesPromtool(t *testing.T) {
	rules, tests := writeRules(t, rulesConfig)
	out, err := promtool(t, "check", "rules", rules)
	if err != nil || !strings.Contains(out, "SUCCESS: 22 rules found") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if strings.Contains(out, "WARNING") || strings.Contains(out, "lint") {
		t.Errorf("promtool check rules warns:\n%s", out)
	}
	b, err := os.ReadFile(tests)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "eval_time:"); n != 18 {
		t.Errorf("test file has %d checks; want 18 (quiet, firing, resolved for 3 tiers of 2 objectives)", n)
	}
	if out, err := promtool(t, "test", "rules", tests); err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestRulesTestCatchesAWrongThreshold: the test file fails on rules whose
// P0 threshold is doubled (the alert fires at the long window's end, not
// half way) and on rules with the short window dropped (the alert does not
// resolve), so it proves the times, not just that the file runs.
func TestRulesTestCatchesAWrongThreshold(t *testing.T) {
	rules, tests := writeRules(t, rulesConfig+quickTiers)
	orig, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	mutations := []struct{ name, from, to string }{
		{"P0 threshold doubled", "} > 0.0144\n", "} > 0.0288\n"},
		{"P0 without its short window", `holdfast_slo:error_ratio:rate5m{slo="checkout-availability"} > 0.0144`, `holdfast_slo:error_ratio:rate1h{slo="checkout-availability"} > 0.0144`},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			bad := strings.Replace(string(orig), m.from, m.to, 1)
			if bad == string(orig) {
				t.Fatalf("%q is not in the rules:\n%s", m.from, orig)
			}
			if err := os.WriteFile(rules, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := promtool(t, "test", "rules", tests); err == nil {
				t.Errorf("promtool test rules passed on mutated rules:\n%s", out)
			}
		})
	}
	if err := os.WriteFile(rules, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, "test", "rules", tests); err != nil {
		t.Fatalf("promtool test rules on the rules as written: %v\n%s", err, out)
	}
}

func TestRulesErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	offBucket := write("off.yaml", strings.Replace(rulesConfig, "latency_below: 300ms", "latency_below: 350ms", 1))
	invalid := write("invalid.yaml", strings.Replace(rulesConfig, "route: search", "route: serch", 1))
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"rules"}, rulesUsage, "no config file"},
		{[]string{"rules", "-c", invalid}, rulesUsage, `slos[1].route (line 16): unknown route "serch"`},
		{[]string{"rules", "-c", offBucket}, rulesRefused, `slos "search-latency": good.latency_below: 350ms is not a bucket bound of holdfast_route_request_duration_seconds`},
		{[]string{"rules", "-c", offBucket, "-test", "x.yaml"}, rulesUsage, "-test needs -o"},
		{[]string{"rules", "-c", invalid, "extra"}, rulesUsage, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("holdfast %v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.stderr)
		}
	}
	// Standard output without -o; help lists the command.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "-c", write("ok.yaml", rulesConfig)}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "alert: HoldfastSLOBurnP0") {
		t.Errorf("holdfast rules to stdout: exit %d, %q", code, stdout.String())
	}
	stdout.Reset()
	run([]string{"help"}, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "  rules ") {
		t.Errorf("help does not list rules:\n%s", stdout.String())
	}
}

// TestRulesAgreeWithTheProcess: a real Prometheus scraping holdfast serve
// computes, with the generated recording rules' expressions, the same
// burn rates the process reports for the same traffic: a route whose two
// endpoints take turns (round robin) and one of which fails every request,
// so exactly half the requests are bad, a burn rate of 50 on a 99%
// objective.
func TestRulesAgreeWithTheProcess(t *testing.T) {
	good := testkit.Start(t, testkit.Config{Name: "good"})
	bad := testkit.Start(t, testkit.Config{Name: "bad"})
	bad.Fail(503)
	e := startServeConfig(t, fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
upstreams:
  shop:
    balancer: round_robin
    endpoints: [{address: %s}, {address: %s}]
    outlier_detection: {disabled: true}
routes:
  - name: checkout
    upstream: shop
    retry: {attempts: 1}
slos:
  - {name: checkout-availability, route: checkout, objective: 99, window: 7d, good: {status_below: 500}}
`, good.URL(), bad.URL()))
	cfg := e.inst.proxy.Config()
	rules, err := sloRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{} // window -> error ratio expression
	for _, r := range rules.Groups[0].Rules {
		if w, ok := strings.CutPrefix(r.Record, "holdfast_slo:error_ratio:rate"); ok {
			exprs[w] = r.Expr
		}
	}
	promAddr := startPrometheus(t, strings.TrimPrefix(e.admin, "http://"))
	deadline := time.Now().Add(45 * time.Second)
	until := func(what, q string, ok func([]promSample) bool) []promSample {
		t.Helper()
		return promUntil(t, promAddr, deadline, what, q, ok)
	}
	until("a scrape", `up{job="holdfast"}`, func(s []promSample) bool { return len(s) == 1 && s[0].value == 1 })
	const n = 400
	for i := range n {
		resp, err := http.Get(e.data + "/buy")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i == n/2 {
			// A scrape in the middle, so that rate has samples inside
			// the traffic, not only at its ends.
			until("the first half", `sum(holdfast_route_requests_total{route="checkout"})`, func(s []promSample) bool { return len(s) == 1 && s[0].value > n/4 })
		}
	}
	until("every request", `sum(holdfast_route_requests_total{route="checkout"})`, func(s []promSample) bool { return len(s) == 1 && s[0].value == n })

	st := e.inst.slos.Status()[0]
	if st.Events != n || st.BadEvents != n/2 {
		t.Fatalf("in process: %v bad of %v events; want %d of %d", st.BadEvents, st.Events, n/2, n)
	}
	budget := 0.01
	for _, ts := range st.Tiers {
		for _, w := range []struct {
			seconds float64
			burn    float64
		}{{ts.LongWindowSeconds, ts.LongBurnRate}, {ts.ShortWindowSeconds, ts.ShortBurnRate}} {
			name := config.Window(time.Duration(w.seconds) * time.Second).String()
			got, err := promQuery(promAddr, exprs[name])
			if err != nil || len(got) != 1 {
				t.Fatalf("Prometheus on the %s rule: %v, %v", name, got, err)
			}
			prom := got[0].value / budget
			// Both read the same counts; Prometheus's rate extrapolates
			// each counter from its samples, which moves the ratio a
			// little when the two series' samples differ at the edges.
			if math.Abs(prom-w.burn) > 0.05*w.burn || math.Abs(w.burn-50) > 1e-9 {
				t.Errorf("%s burn rate over %s: Prometheus %v, the process %v; want both 50", ts.Tier, name, prom, w.burn)
			}
		}
	}
}

// TestLeMatcherMatchesBothPrometheusSpellings: a whole-second bound is
// written "1" by the client and stored as "1.0" by Prometheus 3; the
// rules' matcher selects that bucket under either, and no other.
func TestLeMatcherMatchesBothPrometheusSpellings(t *testing.T) {
	for _, tc := range []struct {
		le        float64
		match, no []string
	}{
		{1, []string{"1", "1.0"}, []string{"10", "1.5", "0.1", "11.0"}},
		{0.3, []string{"0.3"}, []string{"0.30", "3", "0.03"}},
	} {
		m := leMatcher(tc.le)
		var re *regexp.Regexp
		if v, ok := strings.CutPrefix(m, `le=~"`); ok {
			// PromQL unescapes the string, and anchors the regular expression.
			re = regexp.MustCompile(`^(?:` + strings.ReplaceAll(strings.TrimSuffix(v, `"`), `\\`, `\`) + `)$`)
		} else {
			re = regexp.MustCompile(`^` + regexp.QuoteMeta(strings.TrimSuffix(strings.TrimPrefix(m, `le="`), `"`)) + `$`)
		}
		for _, s := range tc.match {
			if !re.MatchString(s) {
				t.Errorf("leMatcher(%g) = %s does not match le=%q; want it to", tc.le, m, s)
			}
		}
		for _, s := range tc.no {
			if re.MatchString(s) {
				t.Errorf("leMatcher(%g) = %s matches le=%q; want it not to", tc.le, m, s)
			}
		}
	}
}
