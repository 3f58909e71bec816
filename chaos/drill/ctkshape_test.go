package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The genuine Chaos Toolkit journals in testdata/ctk were written by
// chaostoolkit-lib's own run_experiment, run from its source
// (testdata/ctk/genuine.py says how and with which experiments): Chaos
// Toolkit cannot be installed from a registry on holdfast's machines, so
// the test reads the journals it wrote rather than running it.

// shape is what the genuine journals hold at one place: the JSON types
// seen there and, for objects, the keys every one of them has (required)
// and the shape of each key's value; for arrays, their elements' shape.
type shape struct {
	types   map[string]bool
	objects int            // how many objects were seen here
	counts  map[string]int // in how many of them each key was
	keys    map[string]*shape
	elem    *shape
}

func newShape() *shape {
	return &shape{types: map[string]bool{}, counts: map[string]int{}, keys: map[string]*shape{}}
}

// freeKeys hold the user's or a provider's own data, whose shape Chaos
// Toolkit does not fix: an activity's output, a provider's arguments and
// headers, the experiment's configuration. Tolerances are checked against
// the types chaostoolkit-lib's hypothesis module accepts (ctkRules).
var freeKeys = map[string]bool{"output": true, "arguments": true, "headers": true, "configuration": true, "tolerance": true}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// shapeKey is where the shape of key k's value c is kept: providers are
// kept by their type, since each type has keys of its own (an http
// provider's url, a process provider's path). A provider of a type the
// genuine journals lack has no shape; ctkRules checks it.
func shapeKey(k string, c any) string {
	if k == "provider" {
		return fmt.Sprintf("provider<%v>", dig(c, "type"))
	}
	return k
}

func (s *shape) learn(v any) {
	s.types[jsonType(v)] = true
	switch x := v.(type) {
	case map[string]any:
		s.objects++
		for k, c := range x {
			s.counts[k]++
			if freeKeys[k] {
				continue
			}
			sk := shapeKey(k, c)
			if s.keys[sk] == nil {
				s.keys[sk] = newShape()
			}
			s.keys[sk].learn(c)
		}
	case []any:
		if s.elem == nil {
			s.elem = newShape()
		}
		for _, c := range x {
			s.elem.learn(c)
		}
	}
}

// check reports where v, holdfast's, lacks a key the genuine journals
// always have at that place, or has a known key with a value of a type
// they never have there. Keys they do not have are holdfast's own and
// free.
func (s *shape) check(path string, v any, errs *[]string) {
	if t := jsonType(v); !s.types[t] {
		var want []string
		for t := range s.types {
			want = append(want, t)
		}
		sort.Strings(want)
		*errs = append(*errs, fmt.Sprintf("%s: %s; Chaos Toolkit's is %s", path, t, strings.Join(want, " or ")))
		return
	}
	switch x := v.(type) {
	case map[string]any:
		var keys []string
		for k := range s.counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c, ok := x[k]
			if !ok {
				if s.counts[k] == s.objects {
					*errs = append(*errs, fmt.Sprintf("%s: no %q, which Chaos Toolkit's always has", path, k))
				}
				continue
			}
			if ks := s.keys[shapeKey(k, c)]; ks != nil {
				ks.check(path+"."+k, c, errs)
			}
		}
	case []any:
		if s.elem == nil {
			return
		}
		for i, c := range x {
			s.elem.check(fmt.Sprintf("%s[%d]", path, i), c, errs)
		}
	}
}

var (
	// isoTime is Python's datetime.isoformat() of a UTC datetime, as
	// chaostoolkit-lib writes every time.
	isoTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$`)
	// semver is a SemVer 2.0 version, which chaos report parses the
	// chaoslib-version as.
	semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// ctkRules checks the values chaostoolkit-lib and chaos report allow, where
// the genuine journals' types do not say enough: statuses, activity and
// provider types and the keys each provider needs (chaoslib's activity and
// provider modules), tolerances (its hypothesis module), times, the
// version, extensions (its extension module), exceptions of failed runs.
func ctkRules(j map[string]any) []string {
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	}
	if v, _ := j["chaoslib-version"].(string); !semver.MatchString(v) {
		bad("chaoslib-version", "%q is not SemVer", j["chaoslib-version"])
	}
	if s := j["status"]; !slices.Contains([]any{"completed", "failed", "aborted", "interrupted"}, s) {
		bad("status", "%v is not completed, failed, aborted or interrupted", s)
	}
	times := func(path string, m map[string]any) {
		for _, k := range []string{"start", "end"} {
			if s, ok := m[k].(string); !ok || !isoTime.MatchString(s) {
				bad(path+"."+k, "%#v is not a time as chaostoolkit-lib writes it", m[k])
			}
		}
	}
	times("journal", j)
	var activity func(path string, a map[string]any, hypothesis bool)
	activity = func(path string, a map[string]any, hypothesis bool) {
		if a["ref"] != nil {
			return
		}
		if t := a["type"]; t != "action" && t != "probe" {
			bad(path+".type", "%v is not action or probe", t)
		}
		if n, _ := a["name"].(string); n == "" {
			bad(path+".name", "required")
		}
		p, _ := a["provider"].(map[string]any)
		switch p["type"] {
		case "http":
			if u, _ := p["url"].(string); u == "" {
				bad(path+".provider.url", "required for an http provider")
			}
		case "process":
			if s, _ := p["path"].(string); s == "" {
				bad(path+".provider.path", "required for a process provider")
			}
		case "python":
			for _, k := range []string{"module", "func"} {
				if s, _ := p[k].(string); s == "" {
					bad(path+".provider."+k, "required for a python provider")
				}
			}
		default:
			bad(path+".provider.type", "%v is not http, process or python", p["type"])
		}
		if ps, ok := a["pauses"]; ok {
			pm, _ := ps.(map[string]any)
			for k, v := range pm {
				if _, ok := v.(float64); !ok || (k != "before" && k != "after") {
					bad(path+".pauses."+k, "%#v: pauses are before and after, in seconds", v)
				}
			}
		}
		tol, has := a["tolerance"]
		if hypothesis && !has {
			bad(path+".tolerance", "required in a hypothesis")
		}
		if !has {
			return
		}
		switch x := tol.(type) {
		case bool, float64, string, []any:
		case map[string]any:
			switch x["type"] {
			case "probe":
				activity(path+".tolerance", x, false)
			case "regex":
				if _, ok := x["pattern"].(string); !ok {
					bad(path+".tolerance.pattern", "required")
				}
			case "jsonpath":
				if _, ok := x["path"].(string); !ok {
					bad(path+".tolerance.path", "required")
				}
			case "range":
				r, _ := x["range"].([]any)
				if len(r) != 2 || jsonType(r[0]) != "number" || jsonType(r[1]) != "number" {
					bad(path+".tolerance.range", "%#v is not two numbers", x["range"])
				}
			default:
				bad(path+".tolerance.type", "%v is not probe, regex, jsonpath or range", x["type"])
			}
		default:
			bad(path+".tolerance", "%#v is not a bool, integer, string, list or mapping", tol)
		}
	}
	exp, _ := j["experiment"].(map[string]any)
	if ssh, ok := exp["steady-state-hypothesis"].(map[string]any); ok {
		if t, _ := ssh["title"].(string); t == "" {
			bad("experiment.steady-state-hypothesis.title", "required")
		}
		for i, p := range list(ssh["probes"]) {
			pm, _ := p.(map[string]any)
			activity(fmt.Sprintf("experiment.steady-state-hypothesis.probes[%d]", i), pm, true)
		}
	}
	for _, k := range []string{"method", "rollbacks"} {
		for i, a := range list(exp[k]) {
			am, _ := a.(map[string]any)
			activity(fmt.Sprintf("experiment.%s[%d]", k, i), am, false)
		}
	}
	for i, x := range list(exp["extensions"]) {
		if n, _ := dig(x, "name").(string); n == "" {
			bad(fmt.Sprintf("experiment.extensions[%d].name", i), "required")
		}
	}
	runs := func(path string, rs []any, hypothesis bool) {
		for i, r := range rs {
			p := fmt.Sprintf("%s[%d]", path, i)
			rm, _ := r.(map[string]any)
			times(p, rm)
			am, _ := rm["activity"].(map[string]any)
			activity(p+".activity", am, hypothesis)
			switch rm["status"] {
			case "succeeded":
			case "failed":
				ex := list(rm["exception"])
				if len(ex) == 0 {
					bad(p+".exception", "a failed run needs its exception")
				}
				for _, line := range ex {
					if _, ok := line.(string); !ok {
						bad(p+".exception", "%#v is not a list of strings", rm["exception"])
					}
				}
			default:
				bad(p+".status", "%v is not succeeded or failed", rm["status"])
			}
			if hypothesis {
				if _, ok := rm["tolerance_met"].(bool); !ok {
					bad(p+".tolerance_met", "required in a hypothesis")
				}
			}
		}
	}
	runs("run", list(j["run"]), false)
	runs("rollbacks", list(j["rollbacks"]), false)
	ss, _ := j["steady_states"].(map[string]any)
	for _, k := range []string{"before", "after"} {
		if h, ok := ss[k].(map[string]any); ok {
			runs("steady_states."+k+".probes", list(h["probes"]), true)
		}
	}
	for i, h := range list(ss["during"]) {
		runs(fmt.Sprintf("steady_states.during[%d].probes", i), list(dig(h, "probes")), true)
	}
	return errs
}

// genuineShape learns the shape of every genuine journal in testdata/ctk.
func genuineShape(t *testing.T) (*shape, []map[string]any) {
	t.Helper()
	files, err := filepath.Glob("testdata/ctk/*.journal.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("genuine journals: %v, %v; want three or more", files, err)
	}
	s := newShape()
	var all []map[string]any
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var j map[string]any
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s.learn(j)
		all = append(all, j)
	}
	return s, all
}

// checkShape reports how holdfast's journal, as JSON, differs from
// Chaos Toolkit's.
func checkShape(s *shape, journal []byte) []string {
	var j map[string]any
	if err := json.Unmarshal(journal, &j); err != nil {
		return []string{err.Error()}
	}
	var errs []string
	s.check("journal", j, &errs)
	return append(errs, ctkRules(j)...)
}

// TestGenuineJournalsPassTheRules makes sure the rules hold of Chaos
// Toolkit's own journals, so that they say nothing Chaos Toolkit does not.
func TestGenuineJournalsPassTheRules(t *testing.T) {
	s, all := genuineShape(t)
	for i, j := range all {
		b, _ := json.Marshal(j)
		if errs := checkShape(s, b); len(errs) > 0 {
			t.Errorf("genuine journal %d:\n%s", i, strings.Join(errs, "\n"))
		}
	}
	// And that the shape asks for something: the keys chaostoolkit-lib's
	// run module always writes.
	for _, k := range []string{"chaoslib-version", "platform", "node", "experiment", "start", "end", "duration", "status", "deviated", "steady_states", "run", "rollbacks"} {
		if s.counts[k] != s.objects {
			t.Errorf("the genuine journals do not all have %q", k)
		}
	}
}

// TestJournalShapeMatchesChaosToolkit checks journals holdfast writes,
// of every status and every kind of activity, against the genuine ones.
func TestJournalShapeMatchesChaosToolkit(t *testing.T) {
	s, _ := genuineShape(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	// A port nothing listens on, for a probe that cannot run.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()

	journals := map[string]*Journal{"sample (aborted, load and metric probes, toxics)": sampleJournal(t)}
	for name, src := range map[string]string{
		"completed": `
title: holds
steady_state_hypothesis:
  title: it answers
  probes:
    - {name: one status, http: {url: "{srv}/", status: 200}}
    - {name: statuses and latency, http: {url: "{srv}/", status: [2xx, 304], max_latency: 5s}}
    - {name: a tolerance, http: {url: "{srv}/"}, tolerance: {type: range, range: [200, 299], target: status}}
    - {name: exits 0, process: {path: "true"}}
method:
  - {name: run a command, process: {path: echo, arguments: [hi]}}
  - {name: read with a command, process: {path: "true"}, probe: true}
  - {name: ping, http: {url: "{srv}/", headers: {Content-Type: application/json}, body: '{"a": 1}'}, duration: 1ms}
  - wait: 1ms
rollbacks:
  - http: {url: "{srv}/", method: GET}
`,
		"deviated during and after": `
title: deviates
steady_state_hypothesis:
  during_every: 1ms
  probes:
    - {name: it answers, http: {url: "{srv}/fail"}}
method:
  - wait: 20ms
`,
		"failed: a probe cannot run": `
title: cannot connect
steady_state_hypothesis:
  probes:
    - {name: nothing there, http: {url: "` + closed + `"}}
method:
  - wait: 1ms
`,
		"failed: an action cannot run": `
title: action fails
method:
  - {name: fails, http: {url: "{srv}/fail"}}
rollbacks:
  - {name: also fails, http: {url: "` + closed + `"}}
`,
	} {
		e, err := Parse([]byte(strings.ReplaceAll(src, "{srv}", srv.URL)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		j, err := Run(context.Background(), e, Options{})
		if err != nil {
			t.Fatal(err)
		}
		journals[name] = j
	}
	wantStatus := map[string]Status{"completed": StatusCompleted, "deviated during and after": StatusCompleted,
		"failed: a probe cannot run": StatusFailed, "failed: an action cannot run": StatusFailed}
	for name, j := range journals {
		if want, ok := wantStatus[name]; ok && j.Status != want {
			t.Errorf("%s: status %s; want %s (%s)", name, j.Status, want, j.AbortReason)
		}
		var buf bytes.Buffer
		if err := j.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		if errs := checkShape(s, buf.Bytes()); len(errs) > 0 {
			t.Errorf("%s: the journal is not Chaos Toolkit's shape:\n%s", name, strings.Join(errs, "\n"))
		}
	}
}
