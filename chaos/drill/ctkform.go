package drill

import (
	"encoding/json"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// ChaoslibVersion is the chaostoolkit-lib release whose journal format
// holdfast drill writes, and the journal's chaoslib-version. Chaos
// Toolkit's tools pick how to read a journal by that version (chaos report
// chooses its template by it), so it names the format, not a program:
// [Journal.Generator] names holdfast.
const ChaoslibVersion = "1.45.0"

// holdfastModule is the module of the python providers that stand, in the
// journal, for the activities holdfast carries out itself (load probes,
// killing and starting its processes, waits). Chaos Toolkit knows three
// kinds of provider (python, process, http) and its tools read each by
// kind; no Python module of that name exists, and the activity's
// "holdfast" key says what ran.
const holdfastModule = "holdfast.drill"

// ctkExperiment renders e in Chaos Toolkit's experiment format, as the
// journal holds it: title, description, tags, steady-state-hypothesis
// (only with probes, as Chaos Toolkit leaves it out of an exploratory
// experiment), method, rollbacks, and dry (null, as `chaos run` writes it).
// What that format has no place for (the chaos API and its proxies, the
// processes, the load, the abort conditions, during_every) is in the
// extension named holdfast, Chaos Toolkit's place for a tool's own
// settings.
func ctkExperiment(e *Experiment) map[string]any {
	m := map[string]any{
		"title":       e.Title,
		"description": e.Description,
		"method":      ctkActions(e, e.Method),
		"rollbacks":   ctkActions(e, e.Rollbacks),
		"dry":         nil,
	}
	if len(e.Tags) > 0 {
		m["tags"] = e.Tags
	}
	if len(e.Hypothesis.Probes) > 0 {
		title := e.Hypothesis.Title
		if title == "" {
			// Chaos Toolkit requires one; holdfast does not.
			title = "The steady state holds"
		}
		m["steady-state-hypothesis"] = map[string]any{"title": title, "probes": ctkProbes(e, e.Hypothesis.Probes)}
	}
	ext := map[string]any{"name": "holdfast"}
	if c := asValue(e.Chaos); c != nil {
		ext["chaos"] = c
	}
	if len(e.Processes) > 0 {
		ext["processes"] = asValue(e.Processes)
	}
	if e.Load != nil {
		l := asValue(e.Load)
		redactAll(l)
		ext["load"] = l
	}
	if e.Hypothesis.DuringEvery > 0 {
		ext["during_every"] = e.Hypothesis.DuringEvery.String()
	}
	if g := e.AbortWhen; g != nil {
		ext["abort_when"] = map[string]any{"every": g.Every.String(), "probes": ctkProbes(e, g.Probes)}
	}
	m["extensions"] = []any{ext}
	return plain(m).(map[string]any)
}

func ctkProbes(e *Experiment, ps []*Probe) []any {
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, ctkProbe(e, p))
	}
	return out
}

func ctkActions(e *Experiment, as []*Action) []any {
	out := make([]any, 0, len(as))
	for _, a := range as {
		out = append(out, ctkAction(e, a))
	}
	return out
}

// ctkProbe renders a probe as a Chaos Toolkit activity: type probe, its
// name, the provider that stands for what it does, its tolerance, and
// holdfast's own form under "holdfast".
func ctkProbe(e *Experiment, p *Probe) map[string]any {
	m := map[string]any{"type": "probe", "name": p.Name, "holdfast": holdfastForm(p)}
	switch {
	case p.HTTP != nil:
		h := p.HTTP
		m["provider"] = httpProvider(h.URL, h.Method, h.Headers, h.Timeout.Seconds())
		m["tolerance"] = httpTolerance(h, p.Tolerance)
	case p.Process != nil:
		m["provider"] = processProvider(p.Process)
		m["tolerance"] = p.Tolerance.raw
	case p.Metric != nil:
		mp := p.Metric
		m["provider"] = httpProvider(mp.URL, "GET", mp.Headers, mp.Timeout.Seconds())
		// The probe's output is {"series": n, "value": v}: a range on
		// its value is what Chaos Toolkit would check. JSON has no
		// infinity, so an open bound is the largest float.
		lo, hi := -math.MaxFloat64, math.MaxFloat64
		if mp.Min != nil {
			lo = *mp.Min
		}
		if mp.Max != nil {
			hi = *mp.Max
		}
		m["tolerance"] = map[string]any{"type": "range", "target": "value", "range": []any{lo, hi}}
	case p.SLO != nil:
		s := p.SLO
		m["provider"] = httpProvider(s.URL, "GET", s.Headers, s.Timeout.Seconds())
		// Two conditions on a page have no Chaos Toolkit form but a
		// tolerance probe: a function that judges the output.
		m["tolerance"] = map[string]any{"type": "probe", "name": "the objective holds",
			"provider": holdfastProvider("slo_within", map[string]any{"name": s.Name, "tier": s.Tier, "min_error_budget_remaining": s.MinErrorBudgetRemaining})}
	case p.Load != nil:
		l := p.Load
		m["provider"] = holdfastProvider("load", map[string]any{"window": l.Window.Seconds(), "min_requests": l.MinRequests})
		// Several bounds at once have no Chaos Toolkit form but a
		// tolerance probe: a function that judges the output.
		bounds, _ := asValue(l).(map[string]any)
		delete(bounds, "window")
		delete(bounds, "min_requests")
		m["tolerance"] = map[string]any{"type": "probe", "name": "within the bounds",
			"provider": holdfastProvider("load_within", bounds)}
	}
	return m
}

// httpTolerance is an HTTP probe's tolerance, or its statuses as Chaos
// Toolkit's tolerance of an HTTP provider: one status code, or a list of
// them (a class such as 2xx is its hundred codes). With a latency bound as
// well, it is a tolerance probe of holdfast's that judges both.
func httpTolerance(h *HTTPProbe, tol *Tolerance) any {
	if tol != nil {
		if h.MaxLatency > 0 {
			return map[string]any{"type": "probe", "name": "tolerance and latency",
				"provider": holdfastProvider("http_within", map[string]any{"tolerance": tol.raw, "max_latency": h.MaxLatency.Seconds()})}
		}
		return tol.raw
	}
	var codes []any
	for _, s := range h.Status {
		if n, err := strconv.Atoi(s); err == nil {
			codes = append(codes, n)
			continue
		}
		if len(s) == 3 && s[0] >= '1' && s[0] <= '5' {
			base := int(s[0]-'0') * 100
			for c := base; c < base+100; c++ {
				codes = append(codes, c)
			}
		}
	}
	if h.MaxLatency > 0 {
		return map[string]any{"type": "probe", "name": "status and latency",
			"provider": holdfastProvider("http_within", map[string]any{"status": codes, "max_latency": h.MaxLatency.Seconds()})}
	}
	if len(codes) == 1 {
		return codes[0]
	}
	return codes
}

// ctkAction renders an action as a Chaos Toolkit activity: type action,
// its name, the provider that stands for what it does, its hold as the
// pause after it, and holdfast's own form under "holdfast".
func ctkAction(e *Experiment, a *Action) map[string]any {
	typ := "action"
	if a.Probe {
		typ = "probe"
	}
	m := map[string]any{"type": typ, "name": a.Name, "holdfast": holdfastForm(a)}
	timeout := a.Timeout.Seconds()
	if c, ok := a.chaosCall(); ok {
		// The request to the chaos API, without its bearer token.
		var headers map[string]string
		if c.body != nil {
			headers = map[string]string{"Content-Type": "application/json"}
		}
		prov := httpProvider(e.Chaos.API+c.path, c.method, headers, timeout)
		if c.body != nil {
			prov["arguments"] = c.body
		}
		m["provider"] = prov
	} else {
		switch {
		case a.KillProcess != nil:
			m["provider"] = holdfastProvider("kill_process", map[string]any{"process": a.KillProcess.Process, "signal": a.KillProcess.Signal})
		case a.StartProcess != nil:
			m["provider"] = holdfastProvider("start_process", map[string]any{"process": a.StartProcess.Process})
		case a.HTTP != nil:
			h := a.HTTP
			prov := httpProvider(h.URL, h.Method, h.Headers, timeout)
			// Chaos Toolkit sends a provider's arguments as a JSON body
			// when the Content-Type says JSON; a body that is a JSON
			// object reads back that way, any other stays in holdfast's
			// form only.
			var args map[string]any
			if h.Body != "" && strings.HasPrefix(headerValue(h.Headers, "Content-Type"), "application/json") &&
				json.Unmarshal([]byte(h.Body), &args) == nil {
				prov["arguments"] = args
			}
			m["provider"] = prov
		case a.Process != nil:
			m["provider"] = processProvider(a.Process)
		default:
			m["provider"] = holdfastProvider("wait", map[string]any{"seconds": a.Wait.Seconds()})
		}
	}
	if a.Duration > 0 {
		m["pauses"] = map[string]any{"after": a.Duration.Seconds()}
	}
	return m
}

// httpProvider is Chaos Toolkit's http provider.
func httpProvider(url, method string, headers map[string]string, timeout float64) map[string]any {
	p := map[string]any{"type": "http", "url": url, "method": method}
	if len(headers) > 0 {
		h := map[string]any{}
		for k, v := range headers {
			h[k] = v
		}
		p["headers"] = redactHeaders(h)
	}
	if timeout > 0 {
		p["timeout"] = timeout
	}
	return p
}

// processProvider is Chaos Toolkit's process provider.
func processProvider(p *ProcessRun) map[string]any {
	args := p.Arguments
	if args == nil {
		args = []string{}
	}
	return map[string]any{"type": "process", "path": p.Path, "arguments": args, "timeout": p.Timeout.Seconds()}
}

// holdfastProvider is the python provider that stands for one of
// holdfast's own activities (see holdfastModule).
func holdfastProvider(fn string, args map[string]any) map[string]any {
	return map[string]any{"type": "python", "module": holdfastModule, "func": fn, "arguments": args}
}

// holdfastForm is a probe or action as holdfast's experiment file writes
// it, without its name (the activity has it).
func holdfastForm(v any) map[string]any {
	m, _ := asValue(v).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	delete(m, "name")
	redactAll(m)
	return m
}

// secretHeaders are the headers whose values the journal does not keep:
// Chaos Toolkit's journal holds an experiment's ${secret} unsubstituted,
// holdfast's holds what it sent, so it writes these as redacted.
var secretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"}

// redacted replaces a secret header's value in the journal.
const redacted = "(redacted)"

func redactHeaders(h map[string]any) map[string]any {
	for k := range h {
		for _, s := range secretHeaders {
			if strings.EqualFold(k, s) {
				h[k] = redacted
			}
		}
	}
	return h
}

// redactAll redacts the secret headers of every "headers" mapping in v.
func redactAll(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if h, ok := c.(map[string]any); ok && k == "headers" {
				redactHeaders(h)
				continue
			}
			redactAll(c)
		}
	case []any:
		for _, c := range x {
			redactAll(c)
		}
	}
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// plain turns v into what reading its JSON back gives (map[string]any,
// []any, float64, ...), so that a journal in memory and the same journal
// read from its file are alike.
func plain(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return map[string]any{"error": err.Error()}
	}
	return out
}

// platform names the operating system and machine, as the journal's
// platform does (Python's platform.platform(), such as
// "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36", in chaostoolkit-lib's).
func platform() string {
	name := runtime.GOOS
	if name != "" {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		if rel := strings.TrimSpace(string(b)); rel != "" {
			name += "-" + rel
		}
	}
	return name + "-" + runtime.GOARCH
}

// node is the host's name ("" when it cannot be had).
func node() string {
	h, _ := os.Hostname()
	return h
}

// probeForm and actionForm are the activity of a run: a copy of its form
// in the journal's experiment, as chaostoolkit-lib copies it.
func (r *runner) probeForm(p *Probe) map[string]any {
	return plain(ctkProbe(r.e, p)).(map[string]any)
}

func (r *runner) actionForm(a *Action) map[string]any {
	return plain(ctkAction(r.e, a)).(map[string]any)
}
