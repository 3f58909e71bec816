package drill

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
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
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	yes, no := true, false
	probe := func(p *Probe, s float64, met *bool, detail string) *ActivityRun {
		return &ActivityRun{Activity: activity("probe", p), Status: "succeeded", ToleranceMet: met, Detail: detail,
			Start: at(s), End: at(s + 0.01), Duration: 0.01}
	}
	action := func(a *Action, s float64, status, exc string) *ActivityRun {
		return &ActivityRun{Activity: activity("action", a), Status: status, Exception: exc,
			Output: map[string]any{"name": "errors"}, Start: at(s), End: at(s + 0.002), Duration: 0.002}
	}
	j := &Journal{
		Generator: "holdfast drill test", Experiment: asValue(e),
		Start: t0, End: at(20), Duration: 20,
		Status: StatusAborted, AbortReason: `abort condition "errors over 3s": error rate 0.3, want ≤ 0.25 (120 requests in 3s)`,
		SteadyStates: SteadyStates{
			Before: &HypothesisRun{SteadyStateMet: true, Probes: []*ActivityRun{
				probe(e.Hypothesis.Probes[0], 5, &yes, "success 100.00%, p99 3ms (200 requests in 5s)"),
				probe(e.Hypothesis.Probes[1], 5, &yes, `sum up{upstream="shop"} = 3`),
			}},
			During: []*HypothesisRun{},
		},
		Run: []*ActivityRun{
			action(e.Method[0], 10, "succeeded", ""),
			action(e.Method[1], 15, "succeeded", ""),
		},
		Rollbacks:   []*ActivityRun{action(e.Rollbacks[0], 16.6, "succeeded", "")},
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
	tests := []struct {
		s    Status
		want int
	}{
		{StatusCompleted, 0}, {StatusFailed, 1}, {StatusAborted, 2}, {StatusInterrupted, 2}, {"", 2},
	}
	for _, tt := range tests {
		if got := (&Journal{Status: tt.s}).ExitCode(); got != tt.want {
			t.Errorf("ExitCode(%q) = %d; want %d", tt.s, got, tt.want)
		}
	}
}

// TestJournalShape checks the JSON against Chaos Toolkit's journal keys.
func TestJournalShape(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleJournal(t).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"status"}, "aborted"},
		{[]string{"deviated"}, false},
		{[]string{"start"}, "2026-01-02T15:04:05Z"},
		{[]string{"duration"}, 20.0},
		{[]string{"experiment", "title"}, "Escalating <errors>"},
		{[]string{"experiment", "method"}, "list"},
		{[]string{"steady_states", "before", "steady_state_met"}, true},
		{[]string{"steady_states", "during"}, "list"},
		{[]string{"steady_states", "after"}, nil},
		{[]string{"run"}, "list"},
		{[]string{"rollbacks"}, "list"},
		{[]string{"abort_checks"}, 13.0},
		{[]string{"abort_probe", "tolerance_met"}, false},
		{[]string{"load", "sent"}, 760.0},
	}
	for _, c := range checks {
		got := dig(m, c.path...)
		if c.want == "list" {
			if _, ok := got.([]any); !ok {
				t.Errorf("%s = %#v; want a list", strings.Join(c.path, "."), got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s = %#v; want %#v", strings.Join(c.path, "."), got, c.want)
		}
	}
	run := list(m["run"])[0].(map[string]any)
	for k, want := range map[string]any{"status": "succeeded", "start": "2026-01-02T15:04:15Z", "duration": 0.002} {
		if run[k] != want {
			t.Errorf("run[0].%s = %#v; want %#v", k, run[k], want)
		}
	}
	act := run["activity"].(map[string]any)
	if act["type"] != "action" || act["name"] != "10% of requests get 503" || dig(act, "add_toxic", "type") != "http_status" || act["duration"] != "5s" {
		t.Errorf("run[0].activity = %v; want the action as written, with type action and duration 5s", act)
	}
	probe := list(dig(m, "steady_states", "before", "probes"))[0].(map[string]any)
	if probe["tolerance_met"] != true || dig(probe, "activity", "type") != "probe" || dig(probe, "activity", "load", "window") != "5s" {
		t.Errorf("before.probes[0] = %v; want a met probe with its activity", probe)
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
		`<header class="status-aborted">`,
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
		Start: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), Duration: 1}
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
