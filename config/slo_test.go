package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/slo"
)

// sloBase is a config with a route named checkout; the slos and alerting
// blocks go on the lines after it, from line 7.
const sloBase = `upstreams:
  a:
    endpoints: [{address: http://127.0.0.1:1}]
routes:
  - name: checkout
    upstream: a
`

const sloFull = sloBase + `slos:
  - name: checkout-availability
    route: checkout
    objective: 99.9
    window: 30d
    good: {status_below: 500}
  - name: checkout-latency
    route: checkout
    objective: 99
    window: 7d
    good: {latency_below: 300ms, status_below: 500}
alerting:
  receivers:
    - name: oncall
      alertmanager: http://127.0.0.1:9093
      tiers: [P0, P1]
    - name: tickets
      webhook: http://127.0.0.1:9000/hook
      tiers: [P2]
  tiers:
    P0: {burn_rate: 14.4, long: 1h, short: 5m}
    P1: {burn_rate: 6, long: 6h, short: 30m}
    P2: {burn_rate: 1, long: 3d, short: 6h}
`

func TestSLOParses(t *testing.T) {
	c, err := Parse([]byte(sloFull))
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	want := []slo.Config{
		{Name: "checkout-availability", Route: "checkout", Objective: 99.9, Window: 30 * day,
			Good: slo.Good{StatusBelow: 500}, Tiers: slo.DefaultTiers},
		{Name: "checkout-latency", Route: "checkout", Objective: 99, Window: 7 * day,
			Good: slo.Good{StatusBelow: 500, LatencyBelow: 300 * time.Millisecond}, Tiers: slo.DefaultTiers},
	}
	if diff := cmp.Diff(want, c.Objectives()); diff != "" {
		t.Errorf("Objectives() (-want +got):\n%s", diff)
	}
	wantRecv := []*Receiver{
		{Name: "oncall", Alertmanager: "http://127.0.0.1:9093", Tiers: []string{"P0", "P1"}},
		{Name: "tickets", Webhook: "http://127.0.0.1:9000/hook", Tiers: []string{"P2"}},
	}
	if diff := cmp.Diff(wantRecv, c.Alerting.Receivers); diff != "" {
		t.Errorf("receivers (-want +got):\n%s", diff)
	}
}

// TestSLODefaults: the workbook's tiers without an alerting block, a
// tier's missing keys from its default, a 30d window by default.
func TestSLODefaults(t *testing.T) {
	c, err := Parse([]byte(sloBase + `slos: [{name: a, route: checkout, objective: 99.9, good: {status_below: 500}}]
alerting: {tiers: {P1: {burn_rate: 5}, P3: {burn_rate: 0.5, long: 7d, short: 12h}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SLOs[0].Window; got != DefaultSLOWindow {
		t.Errorf("window = %v; want %v", got, DefaultSLOWindow)
	}
	if a := c.Alerting; a.CanaryTier != "P1" {
		t.Errorf("alerting.canary_tier = %q; want P1", a.CanaryTier)
	}
	if a := c.Alerting; a.Interval != DefaultAlertInterval || a.RepeatInterval != DefaultRepeatInterval || a.Instance != "" {
		t.Errorf("alerting interval %s, repeat_interval %s, instance %q; want %s, %s and none",
			a.Interval, a.RepeatInterval, a.Instance, DefaultAlertInterval, DefaultRepeatInterval)
	}
	want := []slo.Tier{
		slo.DefaultTiers[0],
		{Name: "P1", BurnRate: 5, Long: 6 * time.Hour, Short: 30 * time.Minute},
		slo.DefaultTiers[2],
		{Name: "P3", BurnRate: 0.5, Long: 7 * 24 * time.Hour, Short: 12 * time.Hour},
	}
	if diff := cmp.Diff(want, c.TierList()); diff != "" {
		t.Errorf("tiers (-want +got):\n%s", diff)
	}
	c, err = Parse([]byte(sloBase))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(slo.DefaultTiers, c.TierList()); diff != "" || len(c.Objectives()) != 0 {
		t.Errorf("no slos: objectives %v, tiers (-want +got):\n%s", c.Objectives(), diff)
	}
}

// badSLOConfigs are refused with these errors, key and line. They seed
// FuzzParseSLO.
var badSLOConfigs = []struct {
	name string
	src  string
	want []string
}{
	{"unknown route", sloBase + "slos: [{name: a, route: chekout, objective: 99.9, good: {status_below: 500}}]\n",
		[]string{`slos[0].route (line 7): unknown route "chekout" (have checkout)`}},
	{"no name, route, objective or good", sloBase + "slos:\n  - window: 30d\n",
		[]string{"slos[0].name (line 8): is required", "slos[0].route (line 8): is required",
			"slos[0].objective (line 8): must be a percentage in (0, 100)", "slos[0].good (line 8): needs status_below or latency_below"}},
	{"duplicate name", sloBase + "slos:\n  - {name: a, route: checkout, objective: 99, good: {status_below: 500}}\n  - {name: a, route: checkout, objective: 99, good: {status_below: 500}}\n",
		[]string{`slos[1].name (line 9): duplicate slo name "a" (also slos[0])`}},
	{"name with a space", sloBase + "slos: [{name: 'a b', route: checkout, objective: 99.9, good: {status_below: 500}}]\n",
		[]string{`slos[0].name (line 7): must be letters, digits and _ . : -`}},
	{"objective as a ratio", sloBase + "slos:\n  - name: a\n    route: checkout\n    objective: 0.999\n    good: {status_below: 500}\n",
		[]string{"slos[0].objective (line 10): allows a burn rate of at most 1.01 (every event bad), so tier P0 (burn_rate 14.4), P1 (burn_rate 6) could never fire; got 0.999 (a percentage: 99.9, not 0.999)"}},
	{"window without unit", sloBase + "slos:\n  - name: a\n    route: checkout\n    objective: 99.9\n    window: 30\n    good: {status_below: 500}\n",
		[]string{"slos[0].window (line 11): must be a duration with a unit, such as 30d or 30m, got 30"}},
	{"window in weeks", sloBase + "slos:\n  - name: a\n    route: checkout\n    objective: 99.9\n    window: 4w\n    good: {status_below: 500}\n",
		[]string{`slos[0].window (line 11): must be a duration such as 30d, 6h or 5m, got "4w"`}},
	{"window shorter than P2", sloBase + "slos:\n  - name: a\n    route: checkout\n    objective: 99.9\n    window: 1d\n    good: {status_below: 500}\n",
		[]string{"slos[0].window (line 11): must be at least tier P2's long window (72h0m0s), got 24h0m0s"}},
	{"window too long", sloBase + "slos:\n  - name: a\n    route: checkout\n    objective: 99.9\n    window: 365d\n    good: {status_below: 500}\n",
		[]string{"slos[0].window (line 11): must be in [1m, 90d], got 8760h0m0s"}},
	{"status 503", sloBase + "slos:\n  - name: a\n    route: checkout\n    objective: 99.9\n    good:\n      status_below: 503\n",
		[]string{"slos[0].good.status_below (line 12): must be 200, 300, 400 or 500"}},
	{"latency without unit", sloBase + "slos:\n  - name: a\n    route: checkout\n    objective: 99.9\n    good:\n      latency_below: 300\n",
		[]string{"slos[0].good.latency_below (line 12): must be a duration with a unit"}},
	{"unknown good key", sloBase + "slos:\n  - name: a\n    route: checkout\n    objective: 99.9\n    good: {status_under: 500}\n",
		[]string{`slos[0].good.status_under (line 11): unknown key`}},
	{"bad tier", sloBase + "alerting:\n  tiers:\n    P0: {burn_rate: -1, short: 2h}\n",
		[]string{"alerting.tiers.P0.burn_rate (line 9): must be a number greater than 0, got -1",
			"alerting.tiers.P0.short (line 9): must be shorter than long (1h0m0s), got 2h0m0s"}},
	{"new tier without keys", sloBase + "alerting:\n  tiers:\n    P3: {burn_rate: 2}\n",
		[]string{"alerting.tiers.P3.long (line 9): must be in [1m, 90d], got 0s", "alerting.tiers.P3.short (line 9): must be at least 1m, got 0s"}},
	{"tier as a list", sloBase + "alerting:\n  tiers:\n    P0: {burn_rate: 2, long: [1h]}\n",
		[]string{"alerting.tiers.P0.long (line 9): must be a duration such as 30d, 6h or 5m, got a list"}},
	{"receiver without target", sloBase + "alerting:\n  receivers:\n    - name: oncall\n      tiers: [P0]\n",
		[]string{"alerting.receivers[0] (line 9): needs alertmanager (a URL) or webhook (a URL)"}},
	{"receiver with both", sloBase + "alerting:\n  receivers:\n    - {name: x, alertmanager: 'http://a:9093', webhook: 'http://b/', tiers: [P0]}\n",
		[]string{"alerting.receivers[0] (line 9): set alertmanager or webhook, not both"}},
	{"receiver bad URL and tier", sloBase + "alerting:\n  receivers:\n    - name: oncall\n      alertmanager: 127.0.0.1:9093\n      tiers: [P0, P9, P0]\n",
		[]string{`alerting.receivers[0].alertmanager (line 10): must be an http:// or https:// URL, got "127.0.0.1:9093"`,
			`alerting.receivers[0].tiers[1] (line 11): unknown tier "P9" (have P0, P1, P2)`,
			`alerting.receivers[0].tiers[2] (line 11): tier "P0" listed twice`}},
	{"receiver no tiers, duplicate", sloBase + "alerting:\n  receivers:\n    - {name: x, webhook: 'http://b/', tiers: [P0]}\n    - {name: x, webhook: 'http://b/'}\n",
		[]string{`alerting.receivers[1].name (line 10): duplicate receiver name "x" (also alerting.receivers[0])`,
			"alerting.receivers[1].tiers (line 10): needs at least one tier"}},
	{"alert interval too short", sloBase + "alerting:\n  interval: 100ms\n",
		[]string{"alerting.interval (line 8): must be in [1s, 5m], got 100ms"}},
	{"unknown canary tier", sloBase + "alerting:\n  canary_tier: P9\n",
		[]string{`alerting.canary_tier (line 8): unknown tier "P9" (have P0, P1, P2)`}},
	{"repeat interval too long", sloBase + "alerting:\n  repeat_interval: 31d\n",
		[]string{"alerting.repeat_interval (line 8): must be in [1m, 30d], got 31d"}},
	{"repeat interval without unit", sloBase + "alerting:\n  repeat_interval: 4\n",
		[]string{"alerting.repeat_interval (line 8): must be a duration with a unit"}},
	{"instance with a space", sloBase + "alerting:\n  instance: 'proxy 1'\n",
		[]string{`alerting.instance (line 8): must be letters, digits and _ . : -`}},
	{"unknown alerting key", sloBase + "alerting: {route: oncall}\n",
		[]string{"alerting.route (line 7): unknown key"}},
	{"webhook password redacted", sloBase + "alerting:\n  receivers:\n    - {name: x, webhook: 'ftp://u:hunter2@b/', tiers: [P0]}\n",
		[]string{`alerting.receivers[0].webhook (line 9): must be an http:// or https:// URL, got "ftp://u:xxxxx@b/"`}},
}

func TestSLOErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range badSLOConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, true)
		})
	}
}

// windowTests seed FuzzParseWindow.
var windowTests = []struct {
	in   string
	want time.Duration
	str  string // String(), "" for in
	err  string
}{
	{in: "30d", want: 30 * 24 * time.Hour},
	{in: "3d", want: 72 * time.Hour},
	{in: "1d12h", want: 36 * time.Hour},
	{in: "1d12h30m", want: 36*time.Hour + 30*time.Minute},
	{in: "0d", want: 0, str: "0s"},
	{in: "6h", want: 6 * time.Hour},
	{in: "90m", want: 90 * time.Minute, str: "1h30m"},
	{in: "5m", want: 5 * time.Minute},
	{in: "1m30s", want: 90 * time.Second},
	{in: "1.5h", want: 90 * time.Minute, str: "1h30m"},
	{in: "250ms", want: 250 * time.Millisecond},
	{in: "48h", want: 48 * time.Hour, str: "2d"},
	{in: "0", want: 0, str: "0s"},
	{in: "1500us", want: 1500 * time.Microsecond, str: "1.5ms"},
	{in: "30", err: "must be a duration with a unit, such as 30d or 30m, got 30"},
	{in: "1.5d", err: `whole days first), got "1.5d"`},
	{in: "-1d", err: `whole days first), got "-1d"`},
	{in: "1d-5m", err: `whole days first), got "1d-5m"`},
	{in: "1d+5m", err: `whole days first), got "1d+5m"`},
	{in: "1h1d", err: `whole days first), got "1h1d"`},
	{in: "d", err: `whole days first), got "d"`},
	{in: "1dd", err: `whole days first), got "1dd"`},
	{in: "100001d", err: `whole days first), got "100001d"`},
	{in: "100000d100000h", err: `whole days first), got "100000d100000h"`},
	{in: "-5m", err: "must not be negative, got -5m"},
	{in: "", err: `must be a duration such as 30d, 6h or 5m, got ""`},
	{in: "4w", err: `must be a duration such as 30d, 6h or 5m, got "4w"`},
}

func TestParseWindow(t *testing.T) {
	for _, tt := range windowTests {
		got, err := ParseWindow(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseWindow(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.Duration() != tt.want {
			t.Errorf("ParseWindow(%q) = %v, %v; want %v", tt.in, got.Duration(), err, tt.want)
			continue
		}
		str := tt.str
		if str == "" {
			str = tt.in
		}
		if s := got.String(); s != str {
			t.Errorf("ParseWindow(%q).String() = %q; want %q", tt.in, s, str)
		}
	}
}

// FuzzParseWindow: ParseWindow never panics or returns a negative window,
// and what it accepts, String writes so that it reads back the same.
func FuzzParseWindow(f *testing.F) {
	for _, tt := range windowTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			return
		}
		if w < 0 {
			t.Fatalf("ParseWindow(%q) = %v, negative", s, w.Duration())
		}
		back, err := ParseWindow(w.String())
		if err != nil || back != w {
			t.Fatalf("ParseWindow(%q) = %v; its String %q reads back as %v, %v", s, w.Duration(), w.String(), back.Duration(), err)
		}
	})
}

// TestSLOConfigEncodes: GET /config shows windows as they are written, and
// what it shows parses back to the same objectives.
func TestSLOConfigEncodes(t *testing.T) {
	c, err := Parse([]byte(sloFull))
	if err != nil {
		t.Fatal(err)
	}
	n, err := EncodeRedacted(c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"window: 30d", "window: 7d", "long: 3d", "latency_below: 300ms"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("encoded config lacks %q:\n%s", want, out)
		}
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("encoded config does not parse: %v\n%s", err, out)
	}
	if diff := cmp.Diff(c.Objectives(), back.Objectives()); diff != "" {
		t.Errorf("objectives after a round trip (-before +after):\n%s", diff)
	}
}

func FuzzParseSLO(f *testing.F) {
	for _, tt := range badSLOConfigs {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(sloFull))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses, the slo package takes.
		if _, err := slo.NewSet(c.Objectives()); err != nil {
			t.Errorf("parsed objectives refused by slo.NewSet: %v", err)
		}
		routes := map[string]bool{}
		for _, r := range c.Routes {
			routes[r.Name] = true
		}
		for _, s := range c.Objectives() {
			if !routes[s.Route] {
				t.Errorf("objective %q parsed for unknown route %q", s.Name, s.Route)
			}
		}
		for _, r := range c.Alerting.Receivers {
			for _, tier := range r.Tiers {
				if c.Alerting.Tiers[tier] == nil {
					t.Errorf("receiver %q parsed with unknown tier %q", r.Name, tier)
				}
			}
		}
		_ = fmt.Sprint(c.TierList())
	})
}
