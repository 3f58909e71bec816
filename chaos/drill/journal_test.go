package drill

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sampleJournal builds, with explicit times, the journal of a run that
// aborted: a toxic added at 10s, escalated at 15s, the abort at 16.5s, the
// rollback at 16.6s, a proxy disabled and never enabled.
func sampleJournal(t *testing.T) *Journal {
	t.Helper()
	e, err := Parse([]byte(`
title: Escalating <errors>
description: A "quoted" description & more.
tags: [blast-radius]
load: {url: "http://127.0.0.1:18080/items", rate: 40}
steady_state_hypothesis:
  probes:
    - name: success over 5s
      load: {window: 5s, success_rate: {min: 0.95}, p99: {max: 300ms}}
    - name: usable endpoints
      metric: {url: "http://127.0.0.1:9901/metrics", name: up, labels: {upstream: shop}, min: 2}
method:
  - name: 10% of requests get 503
    add_toxic: {proxy: front, name: errors, type: http_status, toxicity: 0.1, attributes: {status: 503}}
    duration: 5s
  - name: escalate to 50%
    update_toxic: {proxy: front, name: errors, toxicity: 0.5}
    duration: 10s
  - name: cut the backend
    disable_proxy: {proxy: backend}
rollbacks:
  - name: remove the errors
    remove_toxic: {proxy: front, name: errors}
abort_when:
  every: 500ms
  probes:
    - name: errors over 3s
      load: {window: 3s, error_rate: {max: 0.25}}
`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	at := func(s float64) Time { return Time{t0.Add(time.Duration(s * float64(time.Second)))} }
	yes, no := true, false
	probe := func(p *Probe, s float64, met *bool, detail string) *ActivityRun {
		return &ActivityRun{Activity: plain(ctkProbe(e, p)).(map[string]any), Status: "succeeded", ToleranceMet: met, Detail: detail,
			Start: at(s), End: at(s + 0.01), Duration: 0.01}
	}
	action := func(a *Action, s float64, status string, exc Exception) *ActivityRun {
		return &ActivityRun{Activity: plain(ctkAction(e, a)).(map[string]any), Status: status, Exception: exc,
			Output: map[string]any{"name": "errors"}, Start: at(s), End: at(s + 0.002), Duration: 0.002}
	}
	j := &Journal{
		ChaoslibVersion: ChaoslibVersion, Platform: "Linux-6.1.0-x86_64", Node: "drillhost",
		Generator: "holdfast drill test", Experiment: ctkExperiment(e),
		Start: at(0), End: at(20), Duration: 20,
		Status: StatusAborted, AbortReason: `abort condition "errors over 3s": error rate 0.3, want ≤ 0.25 (120 requests in 3s)`,
		SteadyStates: SteadyStates{
			Before: &HypothesisRun{SteadyStateMet: true, Probes: []*ActivityRun{
				probe(e.Hypothesis.Probes[0], 5, &yes, "success 100.00%, p99 3ms (200 requests in 5s)"),
				probe(e.Hypothesis.Probes[1], 5, &yes, `sum up{upstream="shop"} = 3`),
			}},
			During: []*HypothesisRun{},
		},
		Run: []*ActivityRun{
			action(e.Method[0], 10, "succeeded", nil),
			action(e.Method[1], 15, "succeeded", nil),
		},
		Rollbacks:   []*ActivityRun{action(e.Rollbacks[0], 16.6, "succeeded", nil)},
		AbortChecks: 13,
		AbortProbe:  probe(e.AbortWhen.Probes[0], 16.5, &no, "error rate 0.3, want ≤ 0.25 (120 requests in 3s)"),
		Phases: []Phase{
			{"setup", at(0), at(0.1)}, {"warmup", at(0.1), at(5)}, {"before", at(5), at(5.02)},
			{"method", at(10), at(16.5)}, {"rollbacks", at(16.6), at(16.7)}, {"teardown", at(19.9), at(20)},
		},
		Faults: []Fault{
			{Name: "10% of requests get 503", Kind: "add_toxic", Target: "front/errors", Start: at(10.002), End: at(16.602), EndedBy: "remove the errors"},
			{Name: "cut the backend", Kind: "disable_proxy", Target: "backend", Start: at(16)},
		},
		Load: &LoadReport{
			Method: "GET", URL: "http://127.0.0.1:18080/items", Rate: 40, Start: at(0.1),
			Sent: 760, Succeeded: 700, Failed: 60, Statuses: map[string]int{"200": 700, "503": 58, "0": 2},
			P50: 0.0013, P99: 0.0088, Max: 0.305, Interval: 1,
		},
	}
	for i := range 19 {
		sent, ok := 40, 40
		switch {
		case i >= 10 && i < 15:
			ok = 36
		case i >= 15 && i < 17:
			ok = 20
		}
		j.Load.Timeline = append(j.Load.Timeline, TimelinePoint{Offset: float64(i), Sent: sent, Succeeded: ok, Failed: sent - ok,
			P50: 0.001, P99: 0.002 + float64(i)*0.001})
	}
	return j
}

func TestExitCode(t *testing.T) {
	met := &HypothesisRun{SteadyStateMet: true}
	notMet := &HypothesisRun{}
	tests := []struct {
		name     string
		s        Status
		deviated bool
		before   *HypothesisRun
		want     int
	}{
		{"held", StatusCompleted, false, met, ExitHeld},
		{"exploratory", StatusCompleted, false, nil, ExitHeld},
		{"deviated after the method", StatusCompleted, true, met, ExitDeviated},
		{"not met before the method", StatusCompleted, false, notMet, ExitDeviated},
		{"a probe before could not run", StatusFailed, false, notMet, ExitDeviated},
		{"a probe after could not run", StatusFailed, true, met, ExitDeviated},
		{"an action could not run", StatusFailed, false, met, ExitAborted},
		{"aborted", StatusAborted, false, met, ExitAborted},
		{"aborted after deviating during", StatusAborted, true, met, ExitAborted},
		{"interrupted", StatusInterrupted, false, met, ExitAborted},
		{"no status", "", false, nil, ExitAborted},
	}
	for _, tt := range tests {
		j := &Journal{Status: tt.s, Deviated: tt.deviated, SteadyStates: SteadyStates{Before: tt.before}}
		if got := j.ExitCode(); got != tt.want {
			t.Errorf("%s: ExitCode() = %d; want %d", tt.name, got, tt.want)
		}
	}
}

// TestJournalValues checks values of the sample journal that the shape
// test against Chaos Toolkit's journals (TestJournalShapeMatchesChaosToolkit)
// does not: what each activity's provider and tolerance say.
func TestJournalValues(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleJournal(t).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	run0 := "run.0."
	before0 := "steady_states.before.probes.0."
	checks := []struct {
		path string
		want any
	}{
		{"chaoslib-version", ChaoslibVersion},
		{"status", "aborted"},
		{"deviated", false},
		{"start", "2026-01-02T15:04:05+00:00"},
		{"end", "2026-01-02T15:04:25+00:00"},
		{"duration", 20.0},
		{"experiment.title", "Escalating <errors>"},
		{"experiment.steady-state-hypothesis.title", "The steady state holds"},
		{"experiment.dry", nil},
		{"experiment.extensions.0.name", "holdfast"},
		{"experiment.extensions.0.load.rate", 40.0},
		{"experiment.extensions.0.abort_when.every", "500ms"},
		{"experiment.extensions.0.abort_when.probes.0.tolerance.provider.arguments.error_rate.max", 0.25},
		{"experiment.method.2.provider.url", "http://127.0.0.1:8474/proxies/backend"},
		{"experiment.method.2.provider.arguments.enabled", false},
		{"steady_states.after", nil},
		{"abort_checks", 13.0},
		{"abort_probe.tolerance_met", false},
		{"load.sent", 760.0},
		{"load.start", "2026-01-02T15:04:05.100000+00:00"},
		{"faults.0.start", "2026-01-02T15:04:15.002000+00:00"},
		{run0 + "status", "succeeded"},
		{run0 + "start", "2026-01-02T15:04:15+00:00"},
		{run0 + "end", "2026-01-02T15:04:15.002000+00:00"},
		{run0 + "duration", 0.002},
		{run0 + "activity.type", "action"},
		{run0 + "activity.name", "10% of requests get 503"},
		{run0 + "activity.pauses.after", 5.0},
		{run0 + "activity.provider.type", "http"},
		{run0 + "activity.provider.method", "POST"},
		{run0 + "activity.provider.url", "http://127.0.0.1:8474/proxies/front/toxics"},
		{run0 + "activity.provider.headers.Content-Type", "application/json"},
		{run0 + "activity.provider.arguments.toxicity", 0.1},
		{run0 + "activity.provider.arguments.attributes.status", 503.0},
		{run0 + "activity.provider.timeout", 10.0},
		{run0 + "activity.holdfast.add_toxic.type", "http_status"},
		{run0 + "activity.holdfast.duration", "5s"},
		{"run.1.activity.provider.url", "http://127.0.0.1:8474/proxies/front/toxics/errors"},
		{"rollbacks.0.activity.provider.method", "DELETE"},
		{before0 + "tolerance_met", true},
		{before0 + "output", nil},
		{before0 + "activity.type", "probe"},
		{before0 + "activity.provider.type", "python"},
		{before0 + "activity.provider.module", "holdfast.drill"},
		{before0 + "activity.provider.func", "load"},
		{before0 + "activity.provider.arguments.window", 5.0},
		{before0 + "activity.tolerance.type", "probe"},
		{before0 + "activity.tolerance.provider.arguments.success_rate.min", 0.95},
		{before0 + "activity.holdfast.load.window", "5s"},
		{"steady_states.before.probes.1.activity.provider.url", "http://127.0.0.1:9901/metrics"},
		{"steady_states.before.probes.1.activity.tolerance.type", "range"},
		{"steady_states.before.probes.1.activity.tolerance.target", "value"},
		{"steady_states.before.probes.1.activity.tolerance.range.0", 2.0},
		{"steady_states.before.probes.1.activity.tolerance.range.1", math.MaxFloat64},
	}
	for _, c := range checks {
		got, ok := walk(m, c.path)
		if !ok || got != c.want {
			t.Errorf("%s = %#v (present %t); want %#v", c.path, got, ok, c.want)
		}
	}
	// A run's activity is its activity in the experiment, as
	// chaostoolkit-lib copies it.
	runAct, _ := walk(m, "run.0.activity")
	expAct, _ := walk(m, "experiment.method.0")
	if diff := cmp.Diff(expAct, runAct); diff != "" {
		t.Errorf("run[0].activity differs from experiment.method[0] (-experiment +run):\n%s", diff)
	}
}

// walk follows a dotted path of keys and list indexes.
func walk(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func TestTimeJSON(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), `"2026-01-02T15:04:05+00:00"`},
		{time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC), `"2026-01-02T15:04:05.123456+00:00"`},
		{time.Date(2026, 1, 2, 15, 4, 5, 999, time.UTC), `"2026-01-02T15:04:05+00:00"`}, // below a microsecond
		{time.Date(2026, 1, 2, 17, 4, 5, 1000, time.FixedZone("CEST", 2*3600)), `"2026-01-02T15:04:05.000001+00:00"`},
		{time.Time{}, `null`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(Time{tt.t})
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.t, b, err, tt.want)
			continue
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(tt.t.Truncate(time.Microsecond)) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, back, err, tt.t)
		}
	}
	// Journals of earlier holdfast versions wrote RFC 3339.
	var old Time
	if err := json.Unmarshal([]byte(`"2026-01-02T15:04:05.5Z"`), &old); err != nil || !old.Equal(time.Date(2026, 1, 2, 15, 4, 5, 5e8, time.UTC)) {
		t.Errorf("Unmarshal(RFC 3339) = %v, %v", old, err)
	}
	for _, bad := range []string{`12`, `"yesterday"`, `"2026-01-02 15:04:05"`} {
		if err := json.Unmarshal([]byte(bad), &old); err == nil {
			t.Errorf("Unmarshal(%s): no error", bad)
		}
	}
}

func TestExceptionJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Exception
		ok   bool
	}{
		{`["Traceback\n", "ActivityFailed: boom\n"]`, Exception{"Traceback\n", "ActivityFailed: boom\n"}, true},
		{`"boom"`, Exception{"boom"}, true}, // journals of earlier holdfast versions
		{`{"a": 1}`, nil, false},
		{`[1]`, nil, false},
	}
	for _, tt := range tests {
		var e Exception
		err := json.Unmarshal([]byte(tt.in), &e)
		if (err == nil) != tt.ok || (tt.ok && !slices.Equal(e, tt.want)) {
			t.Errorf("Unmarshal(%s) = %q, %v; want %q (ok %t)", tt.in, e, err, tt.want, tt.ok)
		}
	}
	if got := (Exception{"Traceback\n", "ActivityFailed: boom\n"}).String(); got != "Traceback\nActivityFailed: boom" {
		t.Errorf("String() = %q", got)
	}
}

// TestReportReadsTheJournalOnly renders a journal, writes it as JSON, reads
// it back and renders it again: the two pages are the same.
func TestReportReadsTheJournalOnly(t *testing.T) {
	j := sampleJournal(t)
	var page1, js, page2 bytes.Buffer
	if err := j.WriteHTML(&page1); err != nil {
		t.Fatal(err)
	}
	if err := j.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJournal(&js)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.WriteHTML(&page2); err != nil {
		t.Fatal(err)
	}
	if page1.String() != page2.String() {
		t.Errorf("the page from the journal read back differs from the first")
	}
}

func TestReportContents(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleJournal(t).WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		`<title>Escalating &lt;errors&gt; · holdfast drill</title>`,
		`<header class="verdict-none">`,
		`The experiment was aborted; the rollbacks ran.`,
		`A &#34;quoted&#34; description &amp; more.`,
		`abort condition &#34;errors over 3s&#34;: error rate 0.3`,
		`<span class="tag">blast-radius</span>`,
		`92.11%`, // 700 of 760
		// Both charts, the fault spans labelled on them, the escalation
		// marked, the bounds drawn.
		`Success rate of the load, per 1s`,
		`Latency of the load (ms, every answer, failures included), per 1s`,
		`>10% of requests get 503</text>`,
		`>escalate to 50%</text>`,
		`hypothesis: success ≥ 95%`,
		`abort if errors &gt; 25%`,
		`hypothesis: p99 ≤ 300ms`,
		`phase-method`,
		// Tables.
		`success rate ≥ 0.95, p99 ≤ 300ms over 5s`,
		`sum up{upstream=&#34;shop&#34;} ≥ 2`,
		`13 checks while the method ran.`,
		`remove the errors`,
		`never removed`,
		`200 × 700, 503 × 58, error or timeout × 2`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(page, "<svg "); n != 2 {
		t.Errorf("report has %d charts; want 2", n)
	}
	// Self-contained and script-free.
	for _, re := range []string{`(?i)<script`, `(?i)\bsrc=`, `(?i)<link`, `(?i)@import`, `(?i)url\(`, `(?i)href="http`} {
		if regexp.MustCompile(re).MatchString(page) {
			t.Errorf("report matches %s; want no script and no external asset", re)
		}
	}
	// One point per timeline interval on the success line.
	m := regexp.MustCompile(`<polyline class="line s-success" points="([^"]*)"`).FindStringSubmatch(page)
	if m == nil || len(strings.Fields(m[1])) != 19 {
		t.Errorf("success line %q; want 19 points", m)
	}
}

func TestReportWithoutLoad(t *testing.T) {
	j := &Journal{Generator: "g", Experiment: map[string]any{"title": "quiet"}, Status: StatusCompleted,
		Start: Time{time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)}, Duration: 1}
	var buf bytes.Buffer
	if err := j.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"The steady-state hypothesis held.", "drove no load", "No steady-state check ran.", "No fault was injected."} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, "<svg") {
		t.Error("report without load has a chart")
	}
}
