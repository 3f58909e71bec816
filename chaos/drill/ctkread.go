package drill

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// ErrUnsupported is matched by the error of a Chaos Toolkit experiment
// that has parts holdfast drill cannot run; see [*UnsupportedError].
var ErrUnsupported = errors.New("drill: unsupported Chaos Toolkit feature")

// UnsupportedError lists the parts of a Chaos Toolkit experiment that
// holdfast drill cannot run, each naming its key and activity, such as
// `method[2] "terminate a pod" (line 31): a python provider
// (chaosk8s.pod.actions.terminate_pods)`.
type UnsupportedError struct {
	Parts []string
}

func (e *UnsupportedError) Error() string {
	return "drill: holdfast drill cannot run these parts of the Chaos Toolkit experiment (skip them with -skip-unsupported):\n  " +
		strings.Join(e.Parts, "\n  ")
}

// Is makes an UnsupportedError match [ErrUnsupported].
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// isChaosToolkit reports whether the document is a Chaos Toolkit
// experiment rather than holdfast's: it has keys only Chaos Toolkit's
// format has (steady-state-hypothesis, configuration, secrets, ...), or
// activities with a type, a provider or a ref.
func isChaosToolkit(root *yaml.Node) bool {
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return false
	}
	for _, k := range []string{"steady-state-hypothesis", "configuration", "secrets", "extensions", "contributions", "controls", "runtime", "version"} {
		if field(root, k) != nil {
			return true
		}
	}
	for _, k := range []string{"method", "rollbacks"} {
		list := field(root, k)
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for _, a := range list.Content {
			if field(a, "type") != nil || field(a, "provider") != nil || field(a, "ref") != nil {
				return true
			}
		}
	}
	return false
}

// ctkReader turns a Chaos Toolkit experiment into an [Experiment].
type ctkReader struct {
	skip   bool // drop unsupported parts instead of refusing
	errs   config.Errors
	unsupp []string
	vars   map[string]any        // configuration, then secrets, for ${name}
	named  map[string]*yaml.Node // activities by name, for refs
}

func (c *ctkReader) errorf(path string, n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	c.errs = append(c.errs, &config.Error{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// unsupported records a part holdfast drill cannot run.
func (c *ctkReader) unsupported(path, name string, n *yaml.Node, format string, args ...any) {
	where := path
	if name != "" {
		where += " " + strconv.Quote(name)
	}
	if n != nil && n.Line > 0 {
		where += fmt.Sprintf(" (line %d)", n.Line)
	}
	c.unsupp = append(c.unsupp, where+": "+fmt.Sprintf(format, args...))
}

// parseChaosToolkit reads a Chaos Toolkit experiment (JSON or YAML) for
// the parts holdfast drill runs: http and process providers, tolerances,
// pauses, refs, configuration and secrets given inline or from the
// environment. Everything else is refused by name, or dropped with skip.
func parseChaosToolkit(root *yaml.Node, skip bool) (*Experiment, error) {
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	c := &ctkReader{skip: skip, vars: map[string]any{}, named: map[string]*yaml.Node{}}
	e := &Experiment{fromCTK: true}
	str := func(key string, required bool) string {
		n := field(root, key)
		if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			if required {
				c.errorf(key, root, "required")
			}
			return ""
		}
		if n.Kind != yaml.ScalarNode {
			c.errorf(key, n, "must be a string, got %s", yamlpath.Describe(n))
			return ""
		}
		if required && strings.TrimSpace(n.Value) == "" {
			c.errorf(key, n, "required")
		}
		return n.Value
	}
	c.readVars(root)
	e.Title = str("title", true)
	if s, ok := c.subst(e.Title).(string); ok {
		e.Title = s
	}
	e.Description = str("description", false)
	if tags := field(root, "tags"); tags != nil {
		if tags.Kind != yaml.SequenceNode {
			c.errorf("tags", tags, "must be a list of strings, got %s", yamlpath.Describe(tags))
		}
		for i, t := range tags.Content {
			if t.Kind != yaml.ScalarNode || t.Value == "" {
				c.errorf(yamlpath.Index("tags", i), t, "must be a non-empty string")
				continue
			}
			e.Tags = append(e.Tags, t.Value)
		}
	}
	if n := field(root, "controls"); n != nil {
		c.unsupported("controls", "", n, "holdfast drill runs no Chaos Toolkit controls")
	}
	if n := field(root, "dry"); n != nil && n.Tag != "!!null" {
		c.unsupported("dry", "", n, "holdfast drill has no dry runs (use -validate to see the plan)")
	}
	c.readRuntime(root, e)

	// Activities by name, for refs (chaostoolkit-lib looks them up
	// across the experiment).
	for _, k := range []string{"method", "rollbacks"} {
		if l := field(root, k); l != nil && l.Kind == yaml.SequenceNode {
			for _, a := range l.Content {
				c.name(a)
			}
		}
	}
	if h := field(root, "steady-state-hypothesis"); h != nil {
		if h.Kind != yaml.MappingNode {
			c.errorf("steady-state-hypothesis", h, "must be a mapping, got %s", yamlpath.Describe(h))
		} else {
			if ps := field(h, "probes"); ps != nil && ps.Kind == yaml.SequenceNode {
				for _, p := range ps.Content {
					c.name(p)
				}
			}
			c.readHypothesis(h, e)
		}
	}
	if m := field(root, "method"); m == nil {
		c.errorf("method", root, "required (it may be empty, for only checking the steady state)")
	} else {
		e.Method = c.readActivities("method", m, false)
	}
	if r := field(root, "rollbacks"); r != nil {
		e.Rollbacks = c.readActivities("rollbacks", r, true)
	}

	if len(c.errs) > 0 {
		return nil, c.errs.InFileOrder()
	}
	if len(c.unsupp) > 0 {
		if !skip {
			return nil, &UnsupportedError{Parts: c.unsupp}
		}
		e.skipped = c.unsupp
	}
	e.applyDefaults()
	p := &problems{}
	e.validate(p)
	if err := p.err(); err != nil {
		// What the walk above did not catch, named in holdfast's form.
		var out config.Errors
		for _, pe := range p.errs {
			out = append(out, &config.Error{Path: pe.Path, Msg: "in holdfast's form of the experiment: " + pe.Msg})
		}
		return nil, out
	}
	return e, nil
}

func (c *ctkReader) name(a *yaml.Node) {
	if n := field(a, "name"); n != nil && n.Kind == yaml.ScalarNode && n.Value != "" {
		if _, dup := c.named[n.Value]; !dup {
			c.named[n.Value] = a
		}
	}
}

// readVars reads the configuration and the secrets, inline or from the
// environment, for ${name} substitutions.
func (c *ctkReader) readVars(root *yaml.Node) {
	value := func(path string, n *yaml.Node) (any, bool) {
		if n.Kind == yaml.MappingNode {
			t := field(n, "type")
			if t == nil || t.Value != "env" {
				what := "a mapping without a type"
				if t != nil {
					what = "type " + strconv.Quote(t.Value)
				}
				c.unsupported(path, "", n, "%s (holdfast drill reads values given inline and type env)", what)
				return nil, false
			}
			k := field(n, "key")
			if k == nil || k.Value == "" {
				c.errorf(path+".key", n, "required: the environment variable")
				return nil, false
			}
			v, ok := os.LookupEnv(k.Value)
			if !ok {
				d := field(n, "default")
				if d == nil {
					c.errorf(path+".key", k, "the environment has no %s and there is no default", k.Value)
					return nil, false
				}
				dv, err := nodeValue(d)
				if err != nil {
					c.errorf(path+".default", d, "%v", err)
					return nil, false
				}
				return dv, true
			}
			if t := field(n, "env_var_type"); t != nil {
				switch t.Value {
				case "int":
					i, err := strconv.Atoi(v)
					if err != nil {
						c.errorf(path+".env_var_type", t, "%s=%q is not an int", k.Value, v)
						return nil, false
					}
					return float64(i), true
				case "float":
					f, err := strconv.ParseFloat(v, 64)
					if err != nil {
						c.errorf(path+".env_var_type", t, "%s=%q is not a float", k.Value, v)
						return nil, false
					}
					return f, true
				case "bool":
					return strings.EqualFold(v, "true") || v == "1", true
				case "str", "string", "":
				default:
					c.unsupported(path+".env_var_type", "", t, "type %q (holdfast drill reads int, float, bool and str)", t.Value)
					return nil, false
				}
			}
			return v, true
		}
		v, err := nodeValue(n)
		if err != nil {
			c.errorf(path, n, "%v", err)
			return nil, false
		}
		return plain(v), true
	}
	if s := field(root, "secrets"); s != nil && s.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(s.Content); i += 2 {
			scope, m := s.Content[i].Value, s.Content[i+1]
			if m.Kind != yaml.MappingNode {
				c.errorf("secrets."+scope, m, "must be a mapping of names to values")
				continue
			}
			for j := 0; j+1 < len(m.Content); j += 2 {
				if v, ok := value("secrets."+scope+"."+m.Content[j].Value, m.Content[j+1]); ok {
					if _, set := c.vars[m.Content[j].Value]; !set {
						c.vars[m.Content[j].Value] = v
					}
				}
			}
		}
	}
	if cfg := field(root, "configuration"); cfg != nil {
		if cfg.Kind != yaml.MappingNode {
			c.errorf("configuration", cfg, "must be a mapping, got %s", yamlpath.Describe(cfg))
			return
		}
		for i := 0; i+1 < len(cfg.Content); i += 2 {
			// The configuration comes first, as in chaostoolkit-lib.
			if v, ok := value("configuration."+cfg.Content[i].Value, cfg.Content[i+1]); ok {
				c.vars[cfg.Content[i].Value] = v
			}
		}
	}
}

// readRuntime reads the strategies a Chaos Toolkit experiment may set.
func (c *ctkReader) readRuntime(root *yaml.Node, e *Experiment) {
	rt := field(root, "runtime")
	if rt == nil {
		return
	}
	if s := field0(field0(rt, "rollbacks"), "strategy"); s != nil {
		switch s.Value {
		case "default", "always":
			// holdfast drill always runs them, which is what "default"
			// does except after a failure or an interrupt.
		default:
			c.unsupported("runtime.rollbacks.strategy", "", s, "%q (holdfast drill always runs the rollbacks)", s.Value)
		}
	}
	if s := field0(field0(rt, "hypothesis"), "strategy"); s != nil {
		switch s.Value {
		case "default":
		case "continuously":
			f := 1.0 // chaostoolkit-lib's default frequency
			if fr := field0(field0(rt, "hypothesis"), "frequency"); fr != nil {
				if v, err := strconv.ParseFloat(fr.Value, 64); err == nil && v > 0 {
					f = v
				}
			}
			e.Hypothesis.DuringEvery = seconds2dur(f)
		default:
			c.unsupported("runtime.hypothesis.strategy", "", s, "%q (holdfast drill checks the hypothesis before and after the method, and during it with continuously)", s.Value)
		}
	}
}

// field0 is field on a node that may be nil.
func field0(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	return field(n, key)
}

func (c *ctkReader) readHypothesis(h *yaml.Node, e *Experiment) {
	if t := field(h, "title"); t != nil {
		e.Hypothesis.Title = t.Value
	}
	ps := field(h, "probes")
	if ps == nil {
		return
	}
	if ps.Kind != yaml.SequenceNode {
		c.errorf("steady-state-hypothesis.probes", ps, "must be a list, got %s", yamlpath.Describe(ps))
		return
	}
	for i, pn := range ps.Content {
		path := yamlpath.Index("steady-state-hypothesis.probes", i)
		a, ok := c.activity(path, pn, true)
		if !ok {
			continue
		}
		if a.pauses != nil {
			c.unsupported(path, a.name, a.pauses, "pauses in the hypothesis (holdfast drill pauses only in the method and the rollbacks)")
			continue
		}
		if a.probe == nil {
			c.errorf(path+".type", pn, "the hypothesis holds probes, got an action")
			continue
		}
		e.Hypothesis.Probes = append(e.Hypothesis.Probes, a.probe)
	}
}

// readActivities reads the method or the rollbacks: their actions and
// probes, a pause before one as a wait before it, a pause after one as
// its hold (in the method) or a wait after it (in the rollbacks).
func (c *ctkReader) readActivities(key string, l *yaml.Node, rollback bool) []*Action {
	if l.Kind != yaml.SequenceNode {
		c.errorf(key, l, "must be a list, got %s", yamlpath.Describe(l))
		return nil
	}
	var out []*Action
	for i, n := range l.Content {
		path := yamlpath.Index(key, i)
		a, ok := c.activity(path, n, false)
		if !ok {
			continue
		}
		if a.before > 0 {
			out = append(out, &Action{Name: "pause before " + a.name, Wait: a.before})
		}
		out = append(out, a.action)
		if a.after > 0 {
			if rollback {
				out = append(out, &Action{Name: "pause after " + a.name, Wait: a.after})
			} else {
				a.action.Duration = a.after
			}
		}
	}
	return out
}

// ctkActivity is one Chaos Toolkit activity, read.
type ctkActivity struct {
	name          string
	probe         *Probe  // for the hypothesis
	action        *Action // for the method and the rollbacks
	before, after time.Duration
	pauses        *yaml.Node
}

// activity reads the activity at n (resolving a ref); ok is false when it
// is in error or unsupported (recorded).
func (c *ctkReader) activity(path string, n *yaml.Node, hypothesis bool) (ctkActivity, bool) {
	var a ctkActivity
	if n.Kind != yaml.MappingNode {
		c.errorf(path, n, "must be a mapping, got %s", yamlpath.Describe(n))
		return a, false
	}
	if ref := field(n, "ref"); ref != nil {
		target, ok := c.named[ref.Value]
		if !ok || ref.Value == "" {
			c.errorf(path+".ref", ref, "no activity of the experiment is named %q", ref.Value)
			return a, false
		}
		n = target
	}
	nameNode := field(n, "name")
	if nameNode == nil || nameNode.Value == "" {
		c.errorf(path+".name", n, "required")
		return a, false
	}
	a.name = nameNode.Value
	typ := field(n, "type")
	if typ == nil || (typ.Value != "action" && typ.Value != "probe") {
		c.errorf(path+".type", n, "must be action or probe")
		return a, false
	}
	if b := field(n, "background"); b != nil && b.Value == "true" {
		c.unsupported(path, a.name, b, "background: true (holdfast drill runs activities one after another)")
		return a, false
	}
	if ctl := field(n, "controls"); ctl != nil {
		c.unsupported(path, a.name, ctl, "controls (holdfast drill runs no Chaos Toolkit controls)")
		return a, false
	}
	if ps := field(n, "pauses"); ps != nil {
		a.pauses = ps
		for _, k := range []string{"before", "after"} {
			pn := field(ps, k)
			if pn == nil {
				continue
			}
			f, ok := number(c.substNode(pn))
			if !ok || f < 0 || math.IsInf(f, 0) || f > 1e9 {
				c.errorf(path+".pauses."+k, pn, "must be a number of seconds, got %s", yamlpath.Describe(pn))
				return a, false
			}
			if k == "before" {
				a.before = seconds2dur(f)
			} else {
				a.after = seconds2dur(f)
			}
		}
	}
	prov := field(n, "provider")
	if prov == nil || prov.Kind != yaml.MappingNode {
		c.errorf(path+".provider", n, "required: a mapping with a type")
		return a, false
	}
	ptype := field(prov, "type")
	isProbe := typ.Value == "probe"
	var tol *Tolerance
	if tn := field(n, "tolerance"); tn != nil && hypothesis && field0(tn, "type") != nil && field(tn, "type").Value == "probe" {
		c.unsupported(path, a.name, tn, "a tolerance of type probe (an activity that judges the output; holdfast drill judges by value, list, range, regex and jsonpath)")
		return a, false
	} else if tn != nil && hypothesis {
		t, err := parseTolerance(c.substTree(tn))
		if err != nil {
			var ce *config.Error
			if errors.As(err, &ce) {
				c.errs = append(c.errs, &config.Error{Path: yamlpath.Append(path+".tolerance", ce.Path), Line: ce.Line, Msg: ce.Msg})
			} else {
				c.errorf(path+".tolerance", tn, "%v", err)
			}
			return a, false
		}
		tol = t
	} else if hypothesis {
		c.errorf(path+".tolerance", n, "required: a probe of the hypothesis needs a tolerance")
		return a, false
	}
	switch {
	case ptype == nil:
		c.errorf(path+".provider.type", prov, "required: http, process or python")
		return a, false
	case ptype.Value == "http":
		h, timeout, ok := c.httpProvider(path+".provider", prov)
		if !ok {
			return a, false
		}
		if hypothesis {
			a.probe = &Probe{Name: a.name, HTTP: &HTTPProbe{URL: h.URL, Method: h.Method, Headers: h.Headers, Body: h.Body, Timeout: timeout}, Tolerance: tol}
			return a, true
		}
		// Chaos Toolkit's http provider succeeds whatever the status.
		h.Status = Statuses{"1xx", "2xx", "3xx", "4xx", "5xx"}
		a.action = &Action{Name: a.name, HTTP: h, Timeout: timeout, Probe: isProbe}
		return a, true
	case ptype.Value == "process":
		pr, ok := c.processProvider(path+".provider", prov)
		if !ok {
			return a, false
		}
		if hypothesis {
			a.probe = &Probe{Name: a.name, Process: pr, Tolerance: tol}
			return a, true
		}
		pr.AnyExitStatus = true // as Chaos Toolkit's process provider
		a.action = &Action{Name: a.name, Process: pr, Timeout: pr.Timeout, Probe: isProbe}
		return a, true
	case ptype.Value == "python":
		what := "a python provider"
		if m, f := field(prov, "module"), field(prov, "func"); m != nil && f != nil {
			what += " (" + m.Value + "." + f.Value + ")"
		}
		c.unsupported(path, a.name, prov, "%s: holdfast drill runs no Python", what)
		return a, false
	}
	c.errorf(path+".provider.type", ptype, "must be http, process or python, got %q", ptype.Value)
	return a, false
}

// httpProvider reads an http provider: url, method, headers, arguments
// (the query of a GET, else a JSON body when the Content-Type says JSON,
// else a form), timeout (seconds, or [connect, read]).
func (c *ctkReader) httpProvider(path string, p *yaml.Node) (*HTTPAction, time.Duration, bool) {
	p = c.substTree(p)
	h := &HTTPAction{Method: "GET"}
	u := field(p, "url")
	if u == nil || u.Value == "" {
		c.errorf(path+".url", p, "required")
		return nil, 0, false
	}
	h.URL = u.Value
	if pu, err := url.Parse(h.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		c.errorf(path+".url", u, "must be an http:// or https:// URL with a host; got %q", h.URL)
		return nil, 0, false
	}
	if m := field(p, "method"); m != nil {
		h.Method = strings.ToUpper(m.Value)
	}
	if hd := field(p, "headers"); hd != nil {
		if hd.Kind != yaml.MappingNode {
			c.errorf(path+".headers", hd, "must be a mapping of names to values, got %s", yamlpath.Describe(hd))
			return nil, 0, false
		}
		h.Headers = map[string]string{}
		for i := 0; i+1 < len(hd.Content); i += 2 {
			h.Headers[hd.Content[i].Value] = hd.Content[i+1].Value
		}
	}
	if v := field(p, "verify_tls"); v != nil && v.Value == "false" {
		c.unsupported(path+".verify_tls", "", v, "false (holdfast drill always verifies TLS)")
		return nil, 0, false
	}
	if v := field(p, "max_retries"); v != nil && v.Value != "0" {
		c.unsupported(path+".max_retries", "", v, "%s (holdfast drill sends one request; a retry would hide what the probe is for)", v.Value)
		return nil, 0, false
	}
	if args := field(p, "arguments"); args != nil && args.Tag != "!!null" {
		v, err := nodeValue(args)
		if err != nil {
			c.errorf(path+".arguments", args, "%v", err)
			return nil, 0, false
		}
		switch x := plain(v).(type) {
		case map[string]any:
			switch {
			case h.Method == "GET":
				pu, _ := url.Parse(h.URL)
				q := pu.Query()
				for _, k := range sortedKeys(x) {
					for _, item := range asList(x[k]) {
						q.Add(k, scalarString(item))
					}
				}
				pu.RawQuery = q.Encode()
				h.URL = pu.String()
			case headerValue(h.Headers, "Content-Type") == "application/json":
				b, _ := json.Marshal(x)
				h.Body = string(b)
			default:
				form := url.Values{}
				for _, k := range sortedKeys(x) {
					for _, item := range asList(x[k]) {
						form.Add(k, scalarString(item))
					}
				}
				h.Body = form.Encode()
				if h.Headers == nil {
					h.Headers = map[string]string{}
				}
				if headerValue(h.Headers, "Content-Type") == "" {
					h.Headers["Content-Type"] = "application/x-www-form-urlencoded"
				}
			}
		case string:
			h.Body = x
		default:
			c.errorf(path+".arguments", args, "must be a mapping (or a string body), got %s", yamlpath.Describe(args))
			return nil, 0, false
		}
	}
	timeout, ok := c.timeout(path+".timeout", field(p, "timeout"))
	return h, timeout, ok
}

// processProvider reads a process provider: path, arguments (a list; a
// mapping, whose keys and values follow in turn; a string, which Chaos
// Toolkit hands to a shell after the path), timeout.
func (c *ctkReader) processProvider(path string, p *yaml.Node) (*ProcessRun, bool) {
	p = c.substTree(p)
	pn := field(p, "path")
	if pn == nil || pn.Value == "" {
		c.errorf(path+".path", p, "required")
		return nil, false
	}
	pr := &ProcessRun{Path: pn.Value}
	if args := field(p, "arguments"); args != nil && args.Tag != "!!null" {
		v, err := nodeValue(args)
		if err != nil {
			c.errorf(path+".arguments", args, "%v", err)
			return nil, false
		}
		switch x := plain(v).(type) {
		case string:
			// chaostoolkit-lib runs "<path> <arguments>" in a shell.
			pr.Arguments = []string{"-c", pr.Path + " " + x}
			pr.Path = "sh"
		case []any:
			for _, item := range x {
				if s := scalarString(item); s != "" && item != nil {
					pr.Arguments = append(pr.Arguments, s)
				}
			}
		case map[string]any:
			for _, k := range sortedKeys(x) {
				for _, item := range []any{k, x[k]} {
					if s := scalarString(item); s != "" && item != nil {
						pr.Arguments = append(pr.Arguments, s)
					}
				}
			}
		default:
			c.errorf(path+".arguments", args, "must be a list, a mapping or a string, got %s", yamlpath.Describe(args))
			return nil, false
		}
	}
	t, ok := c.timeout(path+".timeout", field(p, "timeout"))
	pr.Timeout = t
	return pr, ok
}

// timeout reads a number of seconds, or [connect, read] (their sum bounds
// the whole activity); none is holdfast's default.
func (c *ctkReader) timeout(path string, n *yaml.Node) (time.Duration, bool) {
	if n == nil || n.Tag == "!!null" {
		return 0, true
	}
	var total float64
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, it := range items {
		f, ok := number(c.substNode(it))
		if !ok || it.Kind != yaml.ScalarNode || f <= 0 || f > 1e9 {
			c.errorf(path, it, "must be a number of seconds, or [connect, read], got %s", yamlpath.Describe(n))
			return 0, false
		}
		total += f
	}
	return seconds2dur(total), true
}

func seconds2dur(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// scalarString is v as Python's str() writes a JSON scalar.
func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// ctkVar is Python's string.Template pattern: $$, $name or ${name}.
var ctkVar = regexp.MustCompile(`\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)\})`)

// subst substitutes the configuration and secrets into s as
// chaostoolkit-lib does: a string that is exactly one ${name} becomes the
// value itself (a number stays a number); otherwise each $name and ${name}
// known becomes its text, $$ a $, and the rest stays as written.
func (c *ctkReader) subst(s string) any {
	if m := ctkVar.FindStringSubmatch(s); m != nil && len(m[0]) == len(s) && m[1] == "" {
		name := m[2] + m[3]
		if v, ok := c.vars[name]; ok {
			return v
		}
		return s
	}
	return ctkVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := strings.Trim(m, "${}")
		if v, ok := c.vars[name]; ok {
			return scalarString(v)
		}
		return m
	})
}

// substNode is a scalar node's value after substitution, as plain JSON.
func (c *ctkReader) substNode(n *yaml.Node) any {
	if n.Kind != yaml.ScalarNode {
		return nil
	}
	if n.Tag == "!!str" || n.Style != 0 {
		return plain(c.subst(n.Value))
	}
	v, err := nodeValue(n)
	if err != nil {
		return nil
	}
	if s, ok := v.(string); ok {
		return plain(c.subst(s))
	}
	return plain(v)
}

// substTree is a copy of n with the configuration and secrets substituted
// into every string scalar, keeping lines.
func (c *ctkReader) substTree(n *yaml.Node) *yaml.Node {
	left := maxNodes
	return c.substTreeBudget(n, &left)
}

func (c *ctkReader) substTreeBudget(n *yaml.Node, left *int) *yaml.Node {
	if n == nil {
		return nil
	}
	if *left--; *left < 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line}
	}
	if n.Kind == yaml.AliasNode {
		return c.substTreeBudget(n.Alias, left)
	}
	cp := *n
	if n.Kind == yaml.ScalarNode {
		if (n.Tag == "!!str" || n.Tag == "") && strings.Contains(n.Value, "$") {
			v := c.subst(n.Value)
			if s, ok := v.(string); ok {
				cp.Value = s
				return &cp
			}
			var vn yaml.Node
			if b, err := json.Marshal(v); err == nil && yaml.Unmarshal(b, &vn) == nil && len(vn.Content) == 1 {
				out := vn.Content[0]
				setLine(out, n.Line)
				return out
			}
		}
		return &cp
	}
	cp.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		cp.Content[i] = c.substTreeBudget(ch, left)
	}
	return &cp
}

func setLine(n *yaml.Node, line int) {
	n.Line = line
	for _, c := range n.Content {
		setLine(c, line)
	}
}
