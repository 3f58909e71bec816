package drill

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

const (
	defaultAPI          = "http://127.0.0.1:8474"
	defaultCallTimeout  = 10 * time.Second
	defaultProbeTimeout = 5 * time.Second
	defaultReadyTimeout = 30 * time.Second
	defaultStopTimeout  = 5 * time.Second
	defaultWindow       = 10 * time.Second
	defaultGuardEvery   = time.Second
	maxRate             = 100000
)

// signals are the signal names processes may be sent.
var signals = []string{"TERM", "INT", "HUP", "QUIT", "KILL"}

// applyDefaults fills every zero field that has a default. It is
// idempotent.
func (e *Experiment) applyDefaults() {
	if e.Chaos.API == "" {
		e.Chaos.API = defaultAPI
	}
	e.Chaos.API = strings.TrimRight(e.Chaos.API, "/")
	if e.Chaos.Timeout == 0 {
		e.Chaos.Timeout = defaultCallTimeout
	}
	for _, cp := range e.Chaos.Proxies {
		if cp != nil && cp.Listen == "" {
			cp.Listen = "127.0.0.1:0"
		}
	}
	for _, pr := range e.Processes {
		if pr == nil {
			continue
		}
		if pr.StopSignal == "" {
			pr.StopSignal = "TERM"
		}
		pr.StopSignal = strings.ToUpper(strings.TrimPrefix(strings.ToUpper(pr.StopSignal), "SIG"))
		if pr.StopTimeout == 0 {
			pr.StopTimeout = defaultStopTimeout
		}
		if pr.Ready != nil && pr.Ready.Timeout == 0 {
			pr.Ready.Timeout = defaultReadyTimeout
		}
	}
	probes := func(ps []*Probe) {
		for _, p := range ps {
			if p != nil {
				p.applyDefaults()
			}
		}
	}
	probes(e.Hypothesis.Probes)
	if e.AbortWhen != nil {
		if e.AbortWhen.Every == 0 {
			e.AbortWhen.Every = defaultGuardEvery
		}
		probes(e.AbortWhen.Probes)
	}
	if l := e.Load; l != nil {
		if l.Method == "" {
			l.Method = "GET"
		}
		if l.Timeout == 0 {
			l.Timeout = 5 * time.Second
		}
		if l.MaxInFlight == 0 {
			l.MaxInFlight = 10000
		}
		if l.Interval == 0 {
			l.Interval = time.Second
		}
		if l.Warmup == 0 {
			for _, p := range e.Hypothesis.Probes {
				if p != nil && p.Load != nil {
					l.Warmup = max(l.Warmup, p.Load.Window)
				}
			}
		}
	}
	for _, list := range [][]*Action{e.Method, e.Rollbacks} {
		for _, a := range list {
			if a != nil {
				a.applyDefaults()
			}
		}
	}
}

func (p *Probe) applyDefaults() {
	if h := p.HTTP; h != nil {
		if h.Method == "" {
			h.Method = "GET"
		}
		if len(h.Status) == 0 && p.Tolerance == nil {
			h.Status = Statuses{"200"}
		}
		if h.Timeout == 0 {
			h.Timeout = max(defaultProbeTimeout, h.MaxLatency+time.Second)
		}
	}
	if m := p.Metric; m != nil {
		if m.Aggregate == "" {
			m.Aggregate = "sum"
		}
		if m.Timeout == 0 {
			m.Timeout = defaultProbeTimeout
		}
	}
	if pr := p.Process; pr != nil {
		if pr.Timeout == 0 {
			pr.Timeout = defaultProbeTimeout
		}
		if p.Tolerance == nil {
			p.Tolerance = exitZero()
		}
	}
	if s := p.SLO; s != nil && s.Timeout == 0 {
		s.Timeout = defaultProbeTimeout
	}
	if l := p.Load; l != nil {
		if l.Window == 0 {
			l.Window = defaultWindow
		}
		if l.MinRequests == 0 {
			l.MinRequests = 1
		}
	}
}

func (a *Action) applyDefaults() {
	if a.Timeout == 0 {
		a.Timeout = defaultCallTimeout
	}
	if k := a.KillProcess; k != nil {
		if k.Signal == "" {
			k.Signal = "KILL"
		}
		k.Signal = strings.TrimPrefix(strings.ToUpper(k.Signal), "SIG")
	}
	if pr := a.Process; pr != nil && pr.Timeout == 0 {
		pr.Timeout = a.Timeout
	}
	if h := a.HTTP; h != nil {
		if h.Method == "" {
			h.Method = "POST"
		}
		if len(h.Status) == 0 {
			h.Status = Statuses{"2xx"}
		}
	}
	if a.Name == "" {
		if k := a.kind(); k != "" {
			a.Name = k + " " + a.target()
		}
	}
}

// Validate fills the defaults of e and reports every invalid value as a
// [config.Errors] whose paths are the YAML keys, such as
// "method[0].add_toxic.proxy: required". [Parse] and [LoadFile] call it (and
// add lines); [Run] calls it for experiments built in Go.
func (e *Experiment) Validate() error {
	e.applyDefaults()
	p := &problems{}
	e.validate(p)
	return p.err()
}

func (e *Experiment) validate(p *problems) {
	checkDurations(p, "", reflect.ValueOf(e).Elem())
	if strings.TrimSpace(e.Title) == "" {
		p.add("title", "required")
	}
	checkURL(p, "chaos.api", e.Chaos.API)
	names := map[string]bool{}
	for i, cp := range e.Chaos.Proxies {
		k := fmt.Sprintf("chaos.proxies[%d]", i)
		if cp == nil {
			p.add(k, "must be a mapping")
			continue
		}
		switch {
		case cp.Name == "":
			p.add(k+".name", "required")
		case strings.ContainsAny(cp.Name, "/?#% \t\r\n"):
			p.add(k+".name", "must not contain '/', '?', '#', '%%' or spaces; got %q", cp.Name)
		case names[cp.Name]:
			p.add(k+".name", "%q is declared twice", cp.Name)
		}
		names[cp.Name] = true
		if cp.Upstream == "" {
			p.add(k+".upstream", "required")
		}
		if cp.Protocol != "" && cp.Protocol != "tcp" && cp.Protocol != "http" {
			p.add(k+".protocol", "must be tcp or http; got %q", cp.Protocol)
		}
	}

	procs := map[string]bool{}
	for i, pr := range e.Processes {
		k := fmt.Sprintf("processes[%d]", i)
		if pr == nil {
			p.add(k, "must be a mapping")
			continue
		}
		switch {
		case pr.Name == "":
			p.add(k+".name", "required")
		case procs[pr.Name]:
			p.add(k+".name", "%q is declared twice", pr.Name)
		}
		procs[pr.Name] = true
		if len(pr.Command) == 0 || pr.Command[0] == "" {
			p.add(k+".command", "required: the program and its arguments, such as [$HOLDFAST, chaos, -port, \"8475\"]")
		}
		if !slices.Contains(signals, pr.StopSignal) {
			p.add(k+".stop_signal", "must be one of %s; got %q", strings.Join(signals, ", "), pr.StopSignal)
		}
		if r := pr.Ready; r != nil {
			switch {
			case (r.URL == "") == (r.TCP == ""):
				p.add(k+".ready", "needs exactly one of url and tcp")
			case r.URL != "":
				checkURL(p, k+".ready.url", r.URL)
			default:
				if _, _, err := net.SplitHostPort(r.TCP); err != nil {
					p.add(k+".ready.tcp", "must be host:port; got %q", r.TCP)
				}
			}
		}
	}

	if l := e.Load; l != nil {
		checkURL(p, "load.url", l.URL)
		checkMethod(p, "load.method", l.Method)
		if !(l.Rate > 0 && l.Rate <= maxRate) {
			p.add("load.rate", "must be in (0, %d] requests per second, got %g", maxRate, l.Rate)
		}
		if l.MaxInFlight < 0 {
			p.add("load.max_in_flight", "must be >= 0, got %d", l.MaxInFlight)
		}
		if l.Interval < 10*time.Millisecond {
			p.add("load.interval", "must be at least 10ms, got %s", l.Interval)
		}
	}

	hasLoad := e.Load != nil
	for i, pr := range e.Hypothesis.Probes {
		validateProbe(p, fmt.Sprintf("steady_state_hypothesis.probes[%d]", i), pr, hasLoad)
	}
	if e.Hypothesis.DuringEvery > 0 && len(e.Hypothesis.Probes) == 0 {
		p.add("steady_state_hypothesis.during_every", "needs probes to check")
	}
	if g := e.AbortWhen; g != nil {
		if len(g.Probes) == 0 {
			p.add("abort_when.probes", "required: at least one probe")
		}
		for i, pr := range g.Probes {
			validateProbe(p, fmt.Sprintf("abort_when.probes[%d]", i), pr, hasLoad)
		}
	}

	if len(e.Method) == 0 && !e.fromCTK {
		// Chaos Toolkit allows an empty method, to only check the
		// steady state.
		p.add("method", "required: at least one action")
	}
	for i, a := range e.Method {
		validateAction(p, fmt.Sprintf("method[%d]", i), a, procs, false)
	}
	for i, a := range e.Rollbacks {
		validateAction(p, fmt.Sprintf("rollbacks[%d]", i), a, procs, true)
	}
}

func validateProbe(p *problems, k string, pr *Probe, hasLoad bool) {
	if pr == nil {
		p.add(k, "must be a mapping")
		return
	}
	if strings.TrimSpace(pr.Name) == "" {
		p.add(k+".name", "required")
	}
	n := 0
	for _, set := range []bool{pr.HTTP != nil, pr.Process != nil, pr.Metric != nil, pr.Load != nil, pr.SLO != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		p.add(k, "needs exactly one of http, process, metric, load and slo")
		return
	}
	if pr.Tolerance != nil && pr.HTTP == nil && pr.Process == nil {
		p.add(k+".tolerance", "only http and process probes take a tolerance")
	}
	switch {
	case pr.Process != nil:
		checkProcessRun(p, k+".process", pr.Process, false)
	case pr.HTTP != nil:
		h := pr.HTTP
		checkURL(p, k+".http.url", h.URL)
		checkMethod(p, k+".http.method", h.Method)
		checkStatuses(p, k+".http.status", h.Status)
		if pr.Tolerance != nil && len(h.Status) > 0 {
			p.add(k+".tolerance", "an http probe takes a tolerance or http.status, not both")
		}
		if h.MaxLatency > 0 && h.Timeout < h.MaxLatency {
			p.add(k+".http.timeout", "must be at least max_latency (%s), got %s", h.MaxLatency, h.Timeout)
		}
	case pr.Metric != nil:
		m := pr.Metric
		checkURL(p, k+".metric.url", m.URL)
		if m.Name == "" {
			p.add(k+".metric.name", "required")
		}
		if !slices.Contains([]string{"sum", "min", "max", "avg", "count"}, m.Aggregate) {
			p.add(k+".metric.aggregate", "must be sum, min, max, avg or count; got %q", m.Aggregate)
		}
		checkRange(p, k+".metric", &Range{Min: m.Min, Max: m.Max}, false)
	case pr.SLO != nil:
		s := pr.SLO
		checkURL(p, k+".slo.url", s.URL)
		if s.Name == "" {
			p.add(k+".slo.name", "required")
		}
		if s.Tier == "" && s.MinErrorBudgetRemaining == nil {
			p.add(k+".slo", "needs tier (such as P0) or min_error_budget_remaining (or both)")
		}
		if m := s.MinErrorBudgetRemaining; m != nil && !(*m >= 0 && *m <= 1) {
			p.add(k+".slo.min_error_budget_remaining", "must be in [0, 1], got %s", fmtFloat(*m))
		}
	case pr.Load != nil:
		l := pr.Load
		if !hasLoad {
			p.add(k+".load", "needs the experiment's load section")
		}
		if l.MinRequests < 0 {
			p.add(k+".load.min_requests", "must be >= 0, got %d", l.MinRequests)
		}
		if l.SuccessRate == nil && l.ErrorRate == nil && l.P50 == nil && l.P99 == nil {
			p.add(k+".load", "needs at least one of success_rate, error_rate, p50 and p99")
		}
		if l.SuccessRate != nil {
			checkRange(p, k+".load.success_rate", l.SuccessRate, true)
		}
		if l.ErrorRate != nil {
			checkRange(p, k+".load.error_rate", l.ErrorRate, true)
		}
		for _, q := range []struct {
			name string
			r    *DurationRange
		}{{"p50", l.P50}, {"p99", l.P99}} {
			if q.r == nil {
				continue
			}
			if q.r.Min == 0 && q.r.Max == 0 {
				p.add(k+".load."+q.name, "needs min or max")
			} else if q.r.Max != 0 && q.r.Min > q.r.Max {
				p.add(k+".load."+q.name+".min", "must not be above max (%s), got %s", q.r.Max, q.r.Min)
			}
		}
	}
}

// checkRange checks a tolerance; a rate must lie in [0, 1].
func checkRange(p *problems, k string, r *Range, rate bool) {
	if r.Min == nil && r.Max == nil {
		p.add(k, "needs min or max")
		return
	}
	if rate {
		if r.Min != nil && !(*r.Min >= 0 && *r.Min <= 1) {
			p.add(k+".min", "must be in [0, 1], got %g", *r.Min)
		}
		if r.Max != nil && !(*r.Max >= 0 && *r.Max <= 1) {
			p.add(k+".max", "must be in [0, 1], got %g", *r.Max)
		}
	}
	if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		p.add(k+".min", "must not be above max (%g), got %g", *r.Max, *r.Min)
	}
}

func validateAction(p *problems, k string, a *Action, procs map[string]bool, rollback bool) {
	if a == nil {
		p.add(k, "must be a mapping")
		return
	}
	kinds := a.kinds()
	switch len(kinds) {
	case 0:
		p.add(k, "needs one of add_toxic, update_toxic, remove_toxic, disable_proxy, enable_proxy, kill_process, start_process, http, process and wait")
		return
	case 1:
	default:
		p.add(k, "has %s; an action does one thing", strings.Join(kinds, " and "))
		return
	}
	if rollback && a.Duration > 0 {
		p.add(k+".duration", "has no effect in rollbacks (use a wait action)")
	}
	proxy := func(key, name string) {
		if name == "" {
			p.add(k+"."+key+".proxy", "required")
		}
	}
	process := func(key, name string) {
		switch {
		case name == "":
			p.add(k+"."+key+".process", "required")
		case !procs[name]:
			p.add(k+"."+key+".process", "%q is not one of the experiment's processes", name)
		}
	}
	toxicity := func(key string, v *float64) {
		if v != nil && !(*v >= 0 && *v <= 1) {
			p.add(k+"."+key+".toxicity", "must be in [0, 1], got %g", *v)
		}
	}
	switch {
	case a.AddToxic != nil:
		t := a.AddToxic
		proxy("add_toxic", t.Proxy)
		if t.Type == "" {
			p.add(k+".add_toxic.type", "required, such as latency, reset_peer, http_status or http_delay")
		}
		if t.Stream != "" && t.Stream != "upstream" && t.Stream != "downstream" {
			p.add(k+".add_toxic.stream", "must be upstream or downstream; got %q", t.Stream)
		}
		toxicity("add_toxic", t.Toxicity)
		checkAttributes(p, k+".add_toxic.attributes", t.Attributes)
	case a.UpdateToxic != nil:
		t := a.UpdateToxic
		proxy("update_toxic", t.Proxy)
		if t.Name == "" {
			p.add(k+".update_toxic.name", "required")
		}
		if t.Toxicity == nil && t.Attributes == nil {
			p.add(k+".update_toxic", "needs toxicity or attributes to change")
		}
		toxicity("update_toxic", t.Toxicity)
		checkAttributes(p, k+".update_toxic.attributes", t.Attributes)
	case a.RemoveToxic != nil:
		proxy("remove_toxic", a.RemoveToxic.Proxy)
		if a.RemoveToxic.Name == "" {
			p.add(k+".remove_toxic.name", "required")
		}
	case a.DisableProxy != nil:
		proxy("disable_proxy", a.DisableProxy.Proxy)
	case a.EnableProxy != nil:
		proxy("enable_proxy", a.EnableProxy.Proxy)
	case a.KillProcess != nil:
		process("kill_process", a.KillProcess.Process)
		if !slices.Contains(signals, a.KillProcess.Signal) {
			p.add(k+".kill_process.signal", "must be one of %s; got %q", strings.Join(signals, ", "), a.KillProcess.Signal)
		}
	case a.StartProcess != nil:
		process("start_process", a.StartProcess.Process)
	case a.HTTP != nil:
		checkURL(p, k+".http.url", a.HTTP.URL)
		checkMethod(p, k+".http.method", a.HTTP.Method)
		checkStatuses(p, k+".http.status", a.HTTP.Status)
	case a.Process != nil:
		checkProcessRun(p, k+".process", a.Process, true)
	}
	if a.Probe && a.HTTP == nil && a.Process == nil {
		p.add(k+".probe", "only http and process actions can be probes")
	}
}

func checkProcessRun(p *problems, k string, pr *ProcessRun, action bool) {
	if strings.TrimSpace(pr.Path) == "" {
		p.add(k+".path", "required: the program to run")
	}
	if pr.AnyExitStatus && !action {
		p.add(k+".any_exit_status", "is for actions; a probe judges the exit status by its tolerance")
	}
}

// exitZero is a process probe's default tolerance: exit status 0.
func exitZero() *Tolerance {
	return &Tolerance{raw: 0.0, kind: "value", value: 0.0}
}

// checkAttributes checks that a toxic's attributes can be sent as JSON (no
// NaN, no mapping with keys other than strings).
func checkAttributes(p *problems, k string, a Attributes) {
	if _, err := json.Marshal(map[string]any(a)); err != nil {
		p.add(k, "cannot be sent to the chaos API as JSON: %v", err)
	}
}

func checkStatuses(p *problems, k string, s Statuses) {
	for _, v := range s {
		if !validStatus(v) {
			p.add(k, "must be a status from 100 to 599 or a class from 1xx to 5xx; got %q", v)
		}
	}
}

// checkDurations reports every negative duration in v, a value of the
// experiment's types, by its YAML key path. The YAML walk already refuses
// them in files; this covers experiments built in Go.
func checkDurations(p *problems, path string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			checkDurations(p, path, v.Elem())
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			checkDurations(p, yamlpath.Join(path, name), v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Pointer {
			for i := 0; i < v.Len(); i++ {
				checkDurations(p, yamlpath.Index(path, i), v.Index(i))
			}
		}
	case reflect.Int64:
		if v.Type() == reflect.TypeFor[time.Duration]() && v.Int() < 0 {
			p.add(path, "must not be negative, got %s", time.Duration(v.Int()))
		}
	}
}

func checkURL(p *problems, k, raw string) {
	if raw == "" {
		p.add(k, "required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(k, "must be an http:// or https:// URL with a host; got %q", raw)
	}
}

func checkMethod(p *problems, k, m string) {
	if m == "" || strings.IndexFunc(m, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
	}) >= 0 {
		p.add(k, "must be an HTTP method such as GET; got %q", m)
	}
}
