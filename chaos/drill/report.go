package drill

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

//go:embed report.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"secs": func(v float64) string { return fmt.Sprintf("%.1fs", v) },
	"ms":   func(v float64) string { return fmtMillis(v) },
	"pct":  func(v float64) string { return pctString(v) },
}).Parse(reportTemplate))

// WriteHTML writes j's report: one self-contained HTML page (inline CSS and
// SVG, no script, no external asset) with the verdict, charts of the load's
// success rate and p50/p99 latency over time with every fault's span and
// the run's phases marked on them, and tables of the steady-state checks,
// the method, the rollbacks, the faults and the setup. It reads only the
// journal, so a journal read back with [ReadJournal] renders the same page.
func (j *Journal) WriteHTML(w io.Writer) error {
	return reportTmpl.Execute(w, newReportData(j))
}

type reportData struct {
	Title, Description string
	Tags               []string
	Status             string
	Verdict            string
	VerdictClass       string // held, not-held or none: the exit code's meaning
	AbortReason        string
	ExitCode           int
	Start              string
	Duration           float64
	Generator          string
	Deviated           bool
	Load               *LoadReport
	LoadSuccess        float64
	Charts             []template.HTML
	NoChart            string
	Before, After      *hypothesisView
	During             []*hypothesisView
	DuringFailed       int
	AbortChecks        int
	AbortProbe         *probeView
	Method, Rollbacks  []actionView
	Setup, Teardown    []actionView
	Faults             []faultView
	Statuses           []statusCount
}

type hypothesisView struct {
	Offset float64
	Met    bool
	Probes []probeView
}

type probeView struct {
	Offset    float64
	Name      string
	Kind      string
	Tolerance string
	Detail    string
	Met       bool
}

type actionView struct {
	Offset   float64
	Took     float64
	Name     string
	Kind     string
	Target   string
	Hold     string
	OK       bool
	Detail   string
	Injected bool
}

type faultView struct {
	Name, Kind, Target string
	From, To           float64
	Open               bool
	EndedBy            string
}

type statusCount struct {
	Status string
	Count  int
}

func newReportData(j *Journal) *reportData {
	exp, _ := j.Experiment.(map[string]any)
	off := func(t Time) float64 {
		if t.IsZero() {
			return j.Duration
		}
		return math.Max(0, t.Sub(j.Start.Time).Seconds())
	}
	d := &reportData{
		Title:       str(dig(exp, "title")),
		Description: str(dig(exp, "description")),
		Status:      string(j.Status),
		AbortReason: j.AbortReason,
		ExitCode:    j.ExitCode(),
		Start:       j.Start.Format("2006-01-02 15:04:05 MST"),
		Duration:    j.Duration,
		Generator:   j.Generator,
		Deviated:    j.Deviated,
		Load:        j.Load,
		AbortChecks: j.AbortChecks,
	}
	if d.Title == "" {
		d.Title = "Experiment"
	}
	switch d.ExitCode {
	case ExitHeld:
		d.VerdictClass = "held"
	case ExitDeviated:
		d.VerdictClass = "not-held"
	default:
		d.VerdictClass = "none"
	}
	for _, t := range list(dig(exp, "tags")) {
		d.Tags = append(d.Tags, str(t))
	}
	before := j.SteadyStates.Before
	switch {
	case j.Status == StatusInterrupted:
		d.Verdict = "The experiment was interrupted; the rollbacks ran."
	case j.Status == StatusAborted:
		d.Verdict = "The experiment was aborted; the rollbacks ran."
	case j.Deviated:
		d.Verdict = "The system deviated from its steady state."
	case before != nil && !before.SteadyStateMet:
		d.Verdict = "The steady state did not hold before the method, so the method did not run."
	case j.Status == StatusFailed:
		d.Verdict = "Part of the experiment could not run, so it says nothing of the hypothesis; the rollbacks ran."
	case j.Status == StatusCompleted:
		d.Verdict = "The steady-state hypothesis held."
	default:
		d.Verdict = "The experiment ended with status " + string(j.Status) + "."
	}

	hyp := func(h *HypothesisRun) *hypothesisView {
		if h == nil {
			return nil
		}
		v := &hypothesisView{Met: h.SteadyStateMet}
		for i, p := range h.Probes {
			pv := newProbeView(p, off)
			if i == 0 {
				v.Offset = pv.Offset
			}
			v.Probes = append(v.Probes, pv)
		}
		return v
	}
	d.Before, d.After = hyp(j.SteadyStates.Before), hyp(j.SteadyStates.After)
	for _, h := range j.SteadyStates.During {
		v := hyp(h)
		d.During = append(d.During, v)
		if !v.Met {
			d.DuringFailed++
		}
	}
	if j.AbortProbe != nil {
		pv := newProbeView(j.AbortProbe, off)
		d.AbortProbe = &pv
	}
	for _, list := range []struct {
		runs []*ActivityRun
		out  *[]actionView
	}{{j.Run, &d.Method}, {j.Rollbacks, &d.Rollbacks}, {j.Setup, &d.Setup}, {j.Teardown, &d.Teardown}} {
		for _, r := range list.runs {
			*list.out = append(*list.out, newActionView(r, off))
		}
	}
	for _, f := range j.Faults {
		d.Faults = append(d.Faults, faultView{Name: f.Name, Kind: f.Kind, Target: f.Target,
			From: off(f.Start), To: off(f.End), Open: f.End.IsZero(), EndedBy: f.EndedBy})
	}
	if l := j.Load; l != nil {
		if l.Sent > 0 {
			d.LoadSuccess = float64(l.Succeeded) / float64(l.Sent)
		}
		for s, n := range l.Statuses {
			if s == "0" {
				s = "error or timeout"
			}
			d.Statuses = append(d.Statuses, statusCount{s, n})
		}
		sort.Slice(d.Statuses, func(a, b int) bool { return d.Statuses[a].Status < d.Statuses[b].Status })
	}
	d.Charts, d.NoChart = charts(j, exp, off)
	return d
}

// charts draws the success-rate and latency charts of the load.
func charts(j *Journal, exp map[string]any, off func(Time) float64) ([]template.HTML, string) {
	l := j.Load
	if l == nil {
		return nil, "This experiment drove no load, so there is nothing to chart."
	}
	if len(l.Timeline) == 0 {
		return nil, "The load sent no request."
	}
	loadOff := off(l.Start)
	xmax := j.Duration
	succ := series{name: "success rate", class: "s-success"}
	p50 := series{name: "p50", class: "s-p50"}
	p99 := series{name: "p99", class: "s-p99"}
	maxLat := 0.0
	for _, p := range l.Timeline {
		x := loadOff + p.Offset + l.Interval/2
		xmax = math.Max(xmax, loadOff+p.Offset+l.Interval)
		if p.Sent > 0 {
			succ.xs = append(succ.xs, x)
			succ.ys = append(succ.ys, 100*float64(p.Succeeded)/float64(p.Sent))
		}
		if p.P99 > 0 {
			p50.xs, p50.ys = append(p50.xs, x), append(p50.ys, p.P50*1000)
			p99.xs, p99.ys = append(p99.xs, x), append(p99.ys, p.P99*1000)
			maxLat = math.Max(maxLat, p.P99*1000)
		}
	}
	var spans []span
	for _, f := range j.Faults {
		spans = append(spans, span{from: off(f.Start), to: off(f.End), label: f.Name})
	}
	// Mark the method's actions that did not start a fault (those have
	// their span): escalations, removals, restarts, waits.
	injected := map[string]bool{}
	for _, f := range j.Faults {
		injected[f.Name] = true
	}
	var marks []mark
	for _, r := range j.Run {
		if !injected[r.name()] {
			marks = append(marks, mark{x: off(r.Start), label: r.name()})
		}
	}
	phaseOff := func(p Phase) (float64, float64) { return off(p.Start), off(p.End) }
	succLines, latLines := thresholds(exp)
	for _, h := range latLines {
		maxLat = math.Max(maxLat, h.y)
	}
	// Zoom the success axis to what there is to see (a 99.5% line on a
	// 0-100% axis looks like 100%), keeping the thresholds in view.
	low := 100.0
	for _, v := range succ.ys {
		low = math.Min(low, v)
	}
	for _, h := range succLines {
		low = math.Min(low, h.y)
	}
	ymin := math.Max(0, 100-niceCeil((100-low)*1.2+0.5))
	success := &chart{
		title: "Success rate of the load, per " + fmtSeconds(l.Interval), unit: "%", height: 260,
		xmax: xmax, ymin: ymin, ymax: 100, lines: []series{succ}, hlines: succLines,
		spans: spans, marks: marks, phases: j.Phases, phaseOff: phaseOff,
	}
	latency := &chart{
		title: "Latency of the load (ms, every answer, failures included), per " + fmtSeconds(l.Interval), unit: "", height: 260,
		xmax: xmax, ymin: 0, ymax: niceCeil(maxLat * 1.1), lines: []series{p50, p99}, hlines: latLines,
		spans: spans, marks: marks, phases: j.Phases, phaseOff: phaseOff,
	}
	return []template.HTML{success.svg(), latency.svg()}, ""
}

// thresholds turns the load probes' bounds into dashed lines: the
// hypothesis's in one colour, the abort conditions' in another.
func thresholds(exp map[string]any) (succ, lat []hline) {
	pct := func(v float64) string { return fmtFloat(math.Round(v*10000)/100) + "%" }
	for _, src := range []struct {
		probes []any
		abort  bool
	}{
		{hypothesisProbes(exp), false},
		{abortProbes(exp), true},
	} {
		// The hypothesis states what must hold; an abort condition what
		// stops the run, so its label says the opposite of its bound.
		label, class := func(holds, breaks string) string { return "hypothesis: " + holds }, "t-hypothesis"
		if src.abort {
			label, class = func(holds, breaks string) string { return "abort if " + breaks }, "t-abort"
		}
		for _, p := range src.probes {
			pm, _ := p.(map[string]any)
			lp, _ := holdfastOf(pm)["load"].(map[string]any)
			if lp == nil {
				continue
			}
			if v, ok := num(dig(lp, "success_rate", "min")); ok {
				succ = append(succ, hline{y: v * 100, label: label("success ≥ "+pct(v), "success < "+pct(v)), class: class})
			}
			if v, ok := num(dig(lp, "error_rate", "max")); ok {
				succ = append(succ, hline{y: (1 - v) * 100, label: label("errors ≤ "+pct(v), "errors > "+pct(v)), class: class})
			}
			for _, q := range []string{"p50", "p99"} {
				if v, ok := dur(dig(lp, q, "max")); ok {
					lat = append(lat, hline{y: v.Seconds() * 1000, label: label(q+" ≤ "+v.String(), q+" > "+v.String()), class: class})
				}
			}
		}
	}
	return succ, lat
}

// hypothesisProbes are the probes of the journal's experiment's
// hypothesis; abortProbes those of its abort conditions, in the holdfast
// extension. Journals of holdfast before it wrote Chaos Toolkit's format
// have them at steady_state_hypothesis and abort_when.
func hypothesisProbes(exp map[string]any) []any {
	if ps := list(dig(exp, "steady-state-hypothesis", "probes")); ps != nil {
		return ps
	}
	return list(dig(exp, "steady_state_hypothesis", "probes"))
}

func abortProbes(exp map[string]any) []any {
	for _, x := range list(dig(exp, "extensions")) {
		if dig(x, "name") == "holdfast" {
			return list(dig(x, "abort_when", "probes"))
		}
	}
	return list(dig(exp, "abort_when", "probes"))
}

// holdfastOf is holdfast's own form of a journal's activity: its
// "holdfast" key, or the activity itself in a journal of a holdfast before
// Chaos Toolkit's format.
func holdfastOf(activity map[string]any) map[string]any {
	if m, ok := activity["holdfast"].(map[string]any); ok {
		return m
	}
	return activity
}

func newProbeView(r *ActivityRun, off func(Time) float64) probeView {
	kind, tol := describeProbe(r.Activity)
	return probeView{Offset: off(r.Start), Name: r.name(), Kind: kind, Tolerance: tol, Detail: r.Detail, Met: r.met()}
}

// describeProbe states a probe's kind and tolerance from its journal form.
func describeProbe(activity map[string]any) (kind, tolerance string) {
	m := holdfastOf(activity)
	switch {
	case m["http"] != nil:
		h := m["http"]
		var parts []string
		var codes []string
		for _, s := range list(dig(h, "status")) {
			codes = append(codes, str(s))
		}
		parts = append(parts, "status "+strings.Join(codes, " or "))
		if v := str(dig(h, "max_latency")); v != "" {
			parts = append(parts, "within "+v)
		}
		return "http " + str(dig(h, "method")) + " " + str(dig(h, "url")), strings.Join(parts, ", ")
	case m["metric"] != nil:
		mp := m["metric"]
		labels := map[string]string{}
		if lm, ok := dig(mp, "labels").(map[string]any); ok {
			for k, v := range lm {
				labels[k] = str(v)
			}
		}
		return "metric " + str(dig(mp, "url")),
			str(dig(mp, "aggregate")) + " " + str(dig(mp, "name")) + formatLabels(labels) + " " + rangeText(dig(mp, "min"), dig(mp, "max"))
	case m["load"] != nil:
		lp := m["load"]
		var parts []string
		for _, q := range []string{"success_rate", "error_rate", "p50", "p99"} {
			if r, ok := dig(lp, q).(map[string]any); ok {
				parts = append(parts, strings.ReplaceAll(q, "_", " ")+" "+rangeText(r["min"], r["max"]))
			}
		}
		return "load", strings.Join(parts, ", ") + " over " + str(dig(lp, "window"))
	}
	return "", ""
}

func rangeText(lo, hi any) string {
	switch {
	case lo != nil && hi != nil:
		return "in [" + str(lo) + ", " + str(hi) + "]"
	case lo != nil:
		return "≥ " + str(lo)
	case hi != nil:
		return "≤ " + str(hi)
	}
	return ""
}

// actionKinds are the action kinds in the order an activity map is
// searched for one.
var actionKinds = []string{"add_toxic", "update_toxic", "remove_toxic", "disable_proxy", "enable_proxy", "kill_process", "start_process", "http", "wait"}

func newActionView(r *ActivityRun, off func(Time) float64) actionView {
	v := actionView{Offset: off(r.Start), Took: r.Duration, Name: r.name(), OK: r.Status == "succeeded"}
	hf := holdfastOf(r.Activity)
kinds:
	for _, k := range actionKinds {
		if x, ok := hf[k]; ok {
			v.Kind = k
			switch k {
			case "wait":
				v.Target = str(x)
			case "http":
				v.Target = str(dig(x, "method")) + " " + str(dig(x, "url"))
			case "add_toxic":
				v.Target = str(dig(x, "proxy")) + " · " + str(dig(x, "type"))
				v.Injected = true
			default:
				var parts []string
				for _, key := range []string{"proxy", "name", "process", "signal"} {
					if s := str(dig(x, key)); s != "" {
						parts = append(parts, s)
					}
				}
				v.Target = strings.Join(parts, " · ")
				v.Injected = k == "disable_proxy" || k == "kill_process"
			}
			break kinds
		}
	}
	if v.Kind == "" {
		v.Kind = str(r.Activity["type"])
	}
	v.Hold = str(hf["duration"])
	switch {
	case len(r.Exception) > 0:
		v.Detail = r.Exception.String()
	case r.Output != nil:
		b, _ := json.Marshal(r.Output)
		v.Detail = string(b)
	}
	if len(v.Detail) > 240 {
		v.Detail = v.Detail[:240] + "…"
	}
	return v
}

// dig walks nested maps by key.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return fmtFloat(x)
	}
	return fmt.Sprint(v)
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

func dur(v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

func fmtMillis(sec float64) string {
	ms := sec * 1000
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func fmtSeconds(s float64) string {
	return time.Duration(s * float64(time.Second)).String()
}
