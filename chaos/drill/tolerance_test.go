package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// toleranceTests are tolerances (as YAML), outputs (as JSON) and whether
// chaostoolkit-lib's within_tolerance would find the output within the
// tolerance. They seed FuzzTolerance.
var toleranceTests = []struct {
	tolerance, output string
	met               bool
}{
	// An integer: the status of an output that has one, else the output.
	{`200`, `{"status": 200, "body": "x"}`, true},
	{`200`, `{"status": 503}`, false},
	{`0`, `{"status": 0, "stdout": "", "stderr": ""}`, true},
	{`1`, `{"status": 0}`, false},
	{`3`, `3`, true},
	{`3`, `"3"`, false},
	// A boolean or a string: the output itself.
	{`true`, `true`, true},
	{`true`, `{"status": 200}`, false},
	{`ok`, `"ok"`, true},
	{`ok`, `"OK"`, false},
	// A list: the status in it; without a status, two values are a range,
	// others a set.
	{`[200, 204]`, `{"status": 204}`, true},
	{`[200, 204]`, `{"status": 201}`, false},
	{`[1, 10]`, `5`, true},
	{`[1, 10]`, `11`, false},
	{`[a, b, c]`, `"b"`, true},
	{`[a, b, c]`, `"d"`, false},
	// A range on a target, numbers or strings that spell one.
	{`{type: range, range: [200, 299], target: status}`, `{"status": 204}`, true},
	{`{type: range, range: [200, 299], target: status}`, `{"status": 302}`, false},
	{`{type: range, range: [0, 1.5], target: body}`, `{"body": "1.25"}`, true},
	{`{type: range, range: [0, 1.5], target: body}`, `{"body": "lots"}`, false},
	{`{type: range, range: [0, 1]}`, `0.5`, true},
	// A regex searches the string at the target.
	{`{type: regex, pattern: "is w.ll", target: body}`, `{"body": "all is well"}`, true},
	{`{type: regex, pattern: "^well", target: body}`, `{"body": "all is well"}`, false},
	{`{type: regex, pattern: "x"}`, `{"body": "x"}`, false}, // the output is not a string
	// A JSONPath finds something, a count of things, or exactly a value.
	{`{type: jsonpath, path: "$.ok", target: body}`, `{"body": {"ok": false}}`, true},
	{`{type: jsonpath, path: "$.missing", target: body}`, `{"body": {"ok": true}}`, false},
	{`{type: jsonpath, path: "$.ok", target: body, expect: true}`, `{"body": {"ok": true}}`, true},
	{`{type: jsonpath, path: "$.ok", target: body, expect: true}`, `{"body": {"ok": false}}`, false},
	{`{type: jsonpath, path: "$.items[*].id", target: body, count: 2}`, `{"body": {"items": [{"id": 1}, {"id": 2}]}}`, true},
	{`{type: jsonpath, path: "$.items[*].id", target: body, expect: [1, 2]}`, `{"body": {"items": [{"id": 1}, {"id": 2}]}}`, true},
	{`{type: jsonpath, path: "$..id", target: body, count: 3}`, `{"body": {"items": [{"id": 1}, {"id": 2}]}}`, false},
	{`{type: jsonpath, path: "$.a", target: body}`, `{"body": "{\"a\": 1}"}`, true}, // a string body is read as JSON
}

func parseTol(t testing.TB, src string) *Tolerance {
	t.Helper()
	var tol Tolerance
	if err := yaml.Unmarshal([]byte(src), &tol); err != nil {
		t.Fatalf("tolerance %s: %v", src, err)
	}
	return &tol
}

func TestToleranceMet(t *testing.T) {
	for _, tt := range toleranceTests {
		tol := parseTol(t, tt.tolerance)
		var out any
		if err := json.Unmarshal([]byte(tt.output), &out); err != nil {
			t.Fatal(err)
		}
		if got := tol.met(out); got != tt.met {
			t.Errorf("tolerance %s, output %s: met %t; want %t", tt.tolerance, tt.output, got, tt.met)
		}
		// It is written back as it was written.
		b, _ := json.Marshal(tol)
		back, err := ParseTolerance(tol.raw)
		if err != nil || back.String() != string(b) {
			t.Errorf("tolerance %s: wrote %s, read back %v, %v", tt.tolerance, b, back, err)
		}
	}
}

// FuzzTolerance parses tolerances and judges outputs with them: nothing
// panics, and a tolerance that parses writes itself back as one that
// parses to the same.
func FuzzTolerance(f *testing.F) {
	for _, tt := range toleranceTests {
		f.Add(tt.tolerance, tt.output)
	}
	f.Fuzz(func(t *testing.T, src, output string) {
		var tol Tolerance
		if err := yaml.Unmarshal([]byte(src), &tol); err != nil || tol.kind == "" {
			return
		}
		var out any
		if json.Unmarshal([]byte(output), &out) == nil {
			tol.met(out)
		}
		back, err := ParseTolerance(tol.raw)
		if err != nil {
			t.Fatalf("tolerance %q wrote %s, which does not parse: %v", src, tol.String(), err)
		}
		if back.String() != tol.String() {
			t.Fatalf("tolerance %q: %s read back as %s", src, tol.String(), back.String())
		}
	})
}

// jsonPathTests are paths, a document, and what each finds (as JSON), or
// the error it gives. They seed FuzzJSONPath.
var jsonPathTests = []struct {
	path, doc, want, err string
}{
	{"$", `{"a": 1}`, `[{"a":1}]`, ""},
	{"$.a", `{"a": 1}`, `[1]`, ""},
	{"$.a.b", `{"a": {"b": [1, 2]}}`, `[[1,2]]`, ""},
	{"$['a b']", `{"a b": 1}`, `[1]`, ""},
	{`$["x]"]`, `{"x]": 1}`, `[1]`, ""},
	{"$.l[1]", `{"l": [1, 2, 3]}`, `[2]`, ""},
	{"$.l[-1]", `{"l": [1, 2, 3]}`, `[3]`, ""},
	{"$.l[5]", `{"l": [1, 2, 3]}`, `null`, ""},
	{"$.l[*]", `{"l": [1, 2]}`, `[1,2]`, ""},
	{"$.*", `{"b": 2, "a": 1}`, `[1,2]`, ""},
	{"$..id", `{"id": 0, "x": [{"id": 1}, {"y": {"id": 2}}]}`, `[0,1,2]`, ""},
	{"$..[0]", `{"x": [1, [2]]}`, `[1,2]`, ""},
	{"a", ``, ``, "starts with $"},
	{"$.", ``, ``, "ends after a dot"},
	{"$[", ``, ``, "unclosed ["},
	{"$['a", ``, ``, "unclosed quote"},
	{"$['a','b']", ``, ``, "only one quoted name"},
	{"$[0:2]", ``, ``, "filters, slices and unions are not supported"},
	{"$[?(@.a)]", ``, ``, "filters, slices and unions are not supported"},
	{"$[x]", ``, ``, "want an index, a quoted name or *"},
	{"$.a(b)", ``, ``, "is not a name"},
	{"$a", ``, ``, "unexpected"},
}

func TestJSONPath(t *testing.T) {
	for _, tt := range jsonPathTests {
		p, err := parseJSONPath(tt.path)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v; want one with %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		var doc any
		if err := json.Unmarshal([]byte(tt.doc), &doc); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(p.find(doc))
		if string(got) != tt.want {
			t.Errorf("%s in %s = %s; want %s", tt.path, tt.doc, got, tt.want)
		}
	}
}

// FuzzJSONPath parses paths and looks for them in documents: nothing
// panics and nothing finds more than maxFound.
func FuzzJSONPath(f *testing.F) {
	for _, tt := range jsonPathTests {
		f.Add(tt.path, tt.doc)
	}
	f.Add("$..*..*..*..*", `[[[[1,2],[3,4]],[[5,6],[7,8]]],[[[1,2],[3,4]],[[5,6],[7,8]]]]`)
	f.Fuzz(func(t *testing.T, path, doc string) {
		p, err := parseJSONPath(path)
		if err != nil {
			return
		}
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		if n := len(p.find(v)); n > maxFound {
			t.Fatalf("%s found %d", path, n)
		}
	})
}

// TestProcessAndToleranceProbes runs http probes with tolerances and
// process probes and actions: real requests to a server on loopback, real
// programs.
func TestProcessAndToleranceProbes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok": true, "items": [1, 2, 3]}`)
		default:
			fmt.Fprint(w, "all is well")
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	e, err := Parse([]byte(strings.ReplaceAll(`
title: tolerances
steady_state_hypothesis:
  probes:
    - {name: json ok, http: {url: "{srv}/json"}, tolerance: {type: jsonpath, target: body, path: "$.ok", expect: true}}
    - {name: three items, http: {url: "{srv}/json"}, tolerance: {type: jsonpath, target: body, path: "$.items[*]", count: 3}}
    - {name: text, http: {url: "{srv}/"}, tolerance: {type: regex, target: body, pattern: "is w.ll"}}
    - {name: 2xx, http: {url: "{srv}/"}, tolerance: {type: range, target: status, range: [200, 299]}}
    - {name: true exits 0, process: {path: "true"}}
    - {name: false exits 1, process: {path: "false"}, tolerance: 1}
    - {name: echo says hi, process: {path: sh, arguments: [-c, "echo hi $WHO"], env: {WHO: there}}, tolerance: {type: regex, target: stdout, pattern: "^hi there"}}
method:
  - {name: write a file, process: {path: sh, arguments: [-c, "echo done > out.txt"]}}
  - {name: a failing command goes on, process: {path: "false", any_exit_status: true}}
  - {name: read it, process: {path: cat, arguments: [out.txt]}, probe: true}
rollbacks:
  - {name: too slow, process: {path: sleep, arguments: ["5"], timeout: 50ms}}
  - {name: exits 3, process: {path: sh, arguments: [-c, "echo oops >&2; exit 3"]}}
`, "{srv}", srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	e.setDir(dir)
	j, err := Run(context.Background(), e, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != StatusCompleted || j.ExitCode() != ExitHeld {
		t.Fatalf("status %s, exit %d, reason %q; want completed, 0", j.Status, j.ExitCode(), j.AbortReason)
	}
	for _, p := range j.SteadyStates.After.Probes {
		if !p.met() {
			t.Errorf("after: probe %q not met: %s (output %v)", p.name(), p.Detail, p.Output)
		}
	}
	if out, _ := j.Run[2].Output.(map[string]any); out["stdout"] != "done\n" || j.Run[2].Activity["type"] != "probe" {
		t.Errorf("run[2] = %+v; want the probe that read the file the first action wrote", j.Run[2])
	}
	for i, want := range []string{"did not finish within 50ms", `exited with status 3; stderr: "oops\n"`} {
		if r := j.Rollbacks[i]; r.Status != "failed" || !strings.Contains(r.Exception.String(), want) {
			t.Errorf("rollbacks[%d] = %s %q; want failed with %q", i, r.Status, r.Exception, want)
		}
	}

	// A tolerance not met: the steady state does not hold before.
	e2, err := Parse([]byte(strings.ReplaceAll(`
title: not met
steady_state_hypothesis:
  probes:
    - {name: json not ok, http: {url: "{srv}/json"}, tolerance: {type: jsonpath, target: body, path: "$.ok", expect: false}}
method: [{wait: 1ms}]
`, "{srv}", srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	j2, err := Run(context.Background(), e2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if j2.Status != StatusCompleted || j2.ExitCode() != ExitDeviated || j2.SteadyStates.Before.SteadyStateMet {
		t.Errorf("status %s, exit %d; want completed, 1, not met before", j2.Status, j2.ExitCode())
	}
	if d := j2.SteadyStates.Before.Probes[0].Detail; !strings.Contains(d, `does not meet the tolerance {"expect":false,"path":"$.ok","target":"body","type":"jsonpath"}`) {
		t.Errorf("detail %q", d)
	}
}
