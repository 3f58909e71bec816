package drill

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/holdfast-dev/holdfast/config"
	"go.yaml.in/yaml/v3"
)

// minimal is the smallest valid experiment; tests append to it.
const minimal = `title: t
method:
  - wait: 1s
`

// parseErrorTests are experiments with problems and the errors Parse must
// report, each with its key path and line. They also seed FuzzParse.
var parseErrorTests = []struct {
	name string
	yaml string
	want []string // every error, in order, formatted
}{
	{"empty", ``, []string{"the experiment is empty"}},
	{"not a mapping", `- a`, []string{"line 1: the file must be a mapping, got a list"}},
	{"syntax", "title: [", []string{"invalid YAML"}},
	{"missing title and method", "description: x\n", []string{"title: required", "method: required: at least one action"}},
	{"unknown key with suggestion", minimal + "rollback:\n  - wait: 1s\n",
		[]string{`rollback (line 4): unknown key (did you mean "rollbacks"?)`}},
	{"unknown nested key", minimal + "load:\n  url: http://x/\n  rate: 1\n  rps: 3\n",
		[]string{`load.rps (line 7): unknown key`}},
	{"duration without unit", "title: t\nmethod:\n  - wait: 10\n",
		[]string{"method[0].wait (line 3): must be a duration with a unit, such as 10s or 10ms, got 10"}},
	{"negative duration", "title: t\nmethod:\n  - wait: 1s\n    duration: -1s\n",
		[]string{"method[0].duration (line 4): must not be negative, got -1s"}},
	{"duplicate key", "title: t\ntitle: u\nmethod: [{wait: 1s}]\n", []string{"title (line 2): duplicate key"}},
	{"wrong kind", "title: t\nmethod: {wait: 1s}\n", []string{"method (line 2): must be a list, got a mapping"}},
	{"string for a number", minimal + "load: {url: http://x/, rate: fast}\n",
		[]string{`load.rate (line 4): must be a number, got "fast"`}},
	{"NaN rate", minimal + "load: {url: http://x/, rate: .nan}\n",
		[]string{`load.rate (line 4): must be a number, got ".nan"`}},
	{"no action kind", "title: t\nmethod:\n  - name: nothing\n",
		[]string{"method[0] (line 3): needs one of add_toxic, update_toxic, remove_toxic, disable_proxy, enable_proxy, kill_process, start_process, http, process and wait"}},
	{"tolerance of a bad type", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: http://x/}\n      tolerance: {type: between}\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance.type (line 6): must be range, regex or jsonpath, got \"between\""}},
	{"tolerance range of one", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: http://x/}\n      tolerance:\n        type: range\n        range: [1]\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance.range (line 8): must be two numbers [lo, hi], got [1]"}},
	{"tolerance bad regex", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: http://x/}\n      tolerance: {type: regex, pattern: \"a(\"}\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance.pattern (line 6): error parsing regexp: missing closing ): `a(`"}},
	{"tolerance jsonpath filter", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: http://x/}\n      tolerance: {type: jsonpath, path: \"$.a[?(@.b)]\"}\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance.path (line 6): [?(@.b)] in \"$.a[?(@.b)]\": filters, slices and unions are not supported"}},
	{"tolerance unknown key", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: http://x/}\n      tolerance: {type: regex, pattern: a, targte: body}\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance.targte (line 6): unknown key in a regex tolerance (it takes type, pattern, target)"}},
	{"tolerance python probe", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: http://x/}\n      tolerance: {type: probe, name: x}\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance.type (line 6): a probe tolerance runs a Chaos Toolkit activity"}},
	{"tolerance and status", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: http://x/, status: 200}\n      tolerance: 200\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance (line 6): an http probe takes a tolerance or http.status, not both"}},
	{"tolerance on a load probe", "title: t\nload: {url: http://x/, rate: 1}\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      load: {success_rate: {min: 1}}\n      tolerance: 1\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance (line 7): only http and process probes take a tolerance"}},
	{"fractional tolerance", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      process: {path: \"true\"}\n      tolerance: 0.5\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].tolerance (line 6): a number tolerance must be an integer"}},
	{"process without path", "title: t\nmethod:\n  - process: {arguments: [a]}\n",
		[]string{"method[0].process.path (line 3): required: the program to run"}},
	{"any_exit_status on a probe", "title: t\nsteady_state_hypothesis:\n  probes:\n    - name: p\n      process: {path: \"true\", any_exit_status: true}\nmethod: [{wait: 1s}]\n",
		[]string{"steady_state_hypothesis.probes[0].process.any_exit_status (line 5): is for actions"}},
	{"probe flag on a toxic", "title: t\nmethod:\n  - remove_toxic: {proxy: p, name: n}\n    probe: true\n",
		[]string{"method[0].probe (line 4): only http and process actions can be probes"}},
	{"two action kinds", "title: t\nmethod:\n  - wait: 1s\n    enable_proxy: {proxy: a}\n",
		[]string{"method[0] (line 3): has enable_proxy and wait; an action does one thing"}},
	{"toxic without proxy and type", "title: t\nmethod:\n  - add_toxic: {name: x}\n",
		[]string{"method[0].add_toxic.proxy (line 3): required", "method[0].add_toxic.type (line 3): required, such as latency, reset_peer, http_status or http_delay"}},
	{"toxicity out of range", "title: t\nmethod:\n  - add_toxic: {proxy: p, type: latency, toxicity: 1.5}\n",
		[]string{"method[0].add_toxic.toxicity (line 3): must be in [0, 1], got 1.5"}},
	{"bad stream", "title: t\nmethod:\n  - add_toxic: {proxy: p, type: latency, stream: sideways}\n",
		[]string{`method[0].add_toxic.stream (line 3): must be upstream or downstream; got "sideways"`}},
	{"attributes not a mapping", "title: t\nmethod:\n  - add_toxic: {proxy: p, type: latency, attributes: [1]}\n",
		[]string{"method[0].add_toxic.attributes (line 3): must be a mapping, got a list"}},
	{"attributes with NaN", "title: t\nmethod:\n  - add_toxic:\n      proxy: p\n      type: latency\n      attributes: {latency: .nan}\n",
		[]string{"method[0].add_toxic.attributes (line 6): cannot be sent to the chaos API as JSON: json: unsupported value: NaN"}},
	{"alias bomb in attributes", "title: t\nmethod:\n  - add_toxic:\n      proxy: p\n      type: x\n      attributes:\n" +
		"        a: &a [x, x, x, x, x, x, x, x, x, x]\n        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
		"        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
		"        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n        f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
		[]string{"alias *d takes the values that aliases repeat past 100000"}},
	{"attributes with a non-string key", "title: t\nmethod:\n  - update_toxic: {proxy: p, name: x, attributes: {match: {1: 2}}}\n",
		[]string{"method[0].update_toxic.attributes (line 3): cannot be sent to the chaos API as JSON"}},
	{"status a mapping", minimal + "steady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: 'http://x/', status: {code: 200}}\n",
		[]string{"steady_state_hypothesis.probes[0].http.status (line 7): a status must be a code such as 200 or a class such as 5xx, or a list of them; got a mapping"}},
	{"update with nothing to change", "title: t\nmethod:\n  - update_toxic: {proxy: p, name: x}\n",
		[]string{"method[0].update_toxic (line 3): needs toxicity or attributes to change"}},
	{"unknown process", "title: t\nmethod:\n  - kill_process: {process: db}\n",
		[]string{`method[0].kill_process.process (line 3): "db" is not one of the experiment's processes`}},
	{"bad signal", "title: t\nprocesses:\n  - {name: db, command: [x]}\nmethod:\n  - kill_process: {process: db, signal: USR9}\n",
		[]string{"method[0].kill_process.signal (line 5): must be one of TERM, INT, HUP, QUIT, KILL; got \"USR9\""}},
	{"process without command, twice", "title: t\nprocesses:\n  - {name: db}\n  - {name: db, command: [x], ready: {}}\n" + "method: [{wait: 1s}]\n",
		[]string{`processes[0].command (line 3): required: the program and its arguments, such as [$HOLDFAST, chaos, -port, "8475"]`,
			`processes[1].name (line 4): "db" is declared twice`, "processes[1].ready (line 4): needs exactly one of url and tcp"}},
	{"duration in a rollback", minimal + "rollbacks:\n  - enable_proxy: {proxy: p}\n    duration: 1s\n",
		[]string{"rollbacks[0].duration (line 6): has no effect in rollbacks (use a wait action)"}},
	{"bad URL", minimal + "load: {url: 'ftp://x/', rate: 1}\n",
		[]string{`load.url (line 4): must be an http:// or https:// URL with a host; got "ftp://x/"`}},
	{"rate out of range", minimal + "load: {url: 'http://x/', rate: 0}\n",
		[]string{"load.rate (line 4): must be in (0, 100000] requests per second, got 0"}},
	{"probe with two kinds", minimal + "steady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: 'http://x/'}\n      metric: {url: 'http://x/', name: m, min: 1}\n",
		[]string{"steady_state_hypothesis.probes[0] (line 6): needs exactly one of http, process, metric, load and slo"}},
	{"probe without name", minimal + "steady_state_hypothesis:\n  probes:\n    - http: {url: 'http://x/'}\n",
		[]string{"steady_state_hypothesis.probes[0].name (line 6): required"}},
	{"bad status", minimal + "steady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: 'http://x/', status: [200, 6xx]}\n",
		[]string{`steady_state_hypothesis.probes[0].http.status (line 7): must be a status from 100 to 599 or a class from 1xx to 5xx; got "6xx"`}},
	{"timeout below max_latency", minimal + "steady_state_hypothesis:\n  probes:\n    - name: p\n      http: {url: 'http://x/', max_latency: 2s, timeout: 1s}\n",
		[]string{"steady_state_hypothesis.probes[0].http.timeout (line 7): must be at least max_latency (2s), got 1s"}},
	{"metric without bounds", minimal + "steady_state_hypothesis:\n  probes:\n    - name: p\n      metric: {url: 'http://x/', name: up, aggregate: median}\n",
		[]string{`steady_state_hypothesis.probes[0].metric.aggregate (line 7): must be sum, min, max, avg or count; got "median"`,
			"steady_state_hypothesis.probes[0].metric (line 7): needs min or max"}},
	{"metric min above max", minimal + "steady_state_hypothesis:\n  probes:\n    - name: p\n      metric: {url: 'http://x/', name: up, min: 3, max: 1}\n",
		[]string{"steady_state_hypothesis.probes[0].metric.min (line 7): must not be above max (1), got 3"}},
	{"slo probe without tier or budget", minimal + "abort_when:\n  probes:\n    - name: p\n      slo: {url: 'http://x/metrics'}\n",
		[]string{"abort_when.probes[0].slo.name (line 7): required",
			"abort_when.probes[0].slo (line 7): needs tier (such as P0) or min_error_budget_remaining (or both)"}},
	{"slo probe budget out of range", minimal + "abort_when:\n  probes:\n    - name: p\n      slo:\n        url: 'http://x/metrics'\n        name: a\n        min_error_budget_remaining: 90\n",
		[]string{"abort_when.probes[0].slo.min_error_budget_remaining (line 10): must be in [0, 1], got 90"}},
	{"load probe without load", minimal + "steady_state_hypothesis:\n  probes:\n    - name: p\n      load: {success_rate: {min: 1.5}}\n",
		[]string{"steady_state_hypothesis.probes[0].load (line 7): needs the experiment's load section",
			"steady_state_hypothesis.probes[0].load.success_rate.min (line 7): must be in [0, 1], got 1.5"}},
	{"load probe with nothing to judge", minimal + "load: {url: 'http://x/', rate: 1}\nabort_when:\n  probes:\n    - name: p\n      load: {window: 5s}\n",
		[]string{"abort_when.probes[0].load (line 8): needs at least one of success_rate, error_rate, p50 and p99"}},
	{"latency bound without bounds", minimal + "load: {url: 'http://x/', rate: 1}\nabort_when:\n  probes:\n    - name: p\n      load: {p99: {}}\n",
		[]string{"abort_when.probes[0].load.p99 (line 8): needs min or max"}},
	{"abort_when without probes", minimal + "abort_when: {every: 1s}\n",
		[]string{"abort_when.probes (line 4): required: at least one probe"}},
	{"during without probes", minimal + "steady_state_hypothesis: {during_every: 1s}\n",
		[]string{"steady_state_hypothesis.during_every (line 4): needs probes to check"}},
	{"chaos proxy problems", minimal + "chaos:\n  api: nope\n  proxies:\n    - {name: a/b, upstream: x:1, protocol: udp}\n    - {name: c}\n",
		[]string{`chaos.api (line 5): must be an http:// or https:// URL with a host; got "nope"`,
			`chaos.proxies[0].name (line 7): must not contain '/', '?', '#', '%' or spaces; got "a/b"`,
			`chaos.proxies[0].protocol (line 7): must be tcp or http; got "udp"`,
			"chaos.proxies[1].upstream (line 8): required"}},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v); want %q", e, tt.want)
			}
			var es config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T %v; want config.Errors", err, err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d errors:\n%v\nwant %d:\n%s", len(es), err, len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i, e := range es {
				if !strings.Contains(e.Error(), tt.want[i]) {
					t.Errorf("error %d = %q; want it to contain %q", i, e.Error(), tt.want[i])
				}
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	e, err := Parse([]byte(`
title: defaults
processes:
  - {name: p, command: [x], ready: {url: "http://127.0.0.1:1/"}}
load: {url: "http://127.0.0.1:1/", rate: 5}
steady_state_hypothesis:
  probes:
    - {name: h, http: {url: "http://127.0.0.1:1/", max_latency: 6s}}
    - {name: m, metric: {url: "http://127.0.0.1:1/metrics", name: up, min: 1}}
    - {name: l, load: {p99: {max: 1s}}}
abort_when:
  probes:
    - {name: g, load: {window: 30s, error_rate: {max: 0.5}}}
method:
  - add_toxic: {proxy: db, type: latency}
  - kill_process: {process: p}
  - http: {url: "http://127.0.0.1:1/reload"}
`))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"chaos.api", e.Chaos.API, defaultAPI},
		{"chaos.timeout", e.Chaos.Timeout, 10 * time.Second},
		{"processes[0].stop_signal", e.Processes[0].StopSignal, "TERM"},
		{"processes[0].stop_timeout", e.Processes[0].StopTimeout, 5 * time.Second},
		{"processes[0].ready.timeout", e.Processes[0].Ready.Timeout, 30 * time.Second},
		{"processes[0].dir", e.Processes[0].Dir, "."},
		{"load.method", e.Load.Method, "GET"},
		{"load.timeout", e.Load.Timeout, 5 * time.Second},
		{"load.interval", e.Load.Interval, time.Second},
		{"load.max_in_flight", e.Load.MaxInFlight, 10000},
		// The longest window of the hypothesis (not of the abort conditions).
		{"load.warmup", e.Load.Warmup, 10 * time.Second},
		{"http.method", e.Hypothesis.Probes[0].HTTP.Method, "GET"},
		{"http.status", e.Hypothesis.Probes[0].HTTP.Status, Statuses{"200"}},
		{"http.timeout", e.Hypothesis.Probes[0].HTTP.Timeout, 7 * time.Second},
		{"metric.aggregate", e.Hypothesis.Probes[1].Metric.Aggregate, "sum"},
		{"metric.timeout", e.Hypothesis.Probes[1].Metric.Timeout, 5 * time.Second},
		{"load probe window", e.Hypothesis.Probes[2].Load.Window, 10 * time.Second},
		{"load probe min_requests", e.Hypothesis.Probes[2].Load.MinRequests, 1},
		{"abort_when.every", e.AbortWhen.Every, time.Second},
		{"method[0].name", e.Method[0].Name, "add_toxic db/latency_downstream"},
		{"method[0].timeout", e.Method[0].Timeout, 10 * time.Second},
		{"method[1].kill_process.signal", e.Method[1].KillProcess.Signal, "KILL"},
		{"method[2].http.method", e.Method[2].HTTP.Method, "POST"},
		{"method[2].http.status", e.Method[2].HTTP.Status, Statuses{"2xx"}},
		{"window kept", longestWindow(e), 30 * time.Second},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s: got %v; want %v", c.name, c.got, c.want)
		}
	}
}

// TestParseScalarForms checks the shorthand forms: a single status, a
// number as a status, a signal with its SIG prefix.
func TestParseScalarForms(t *testing.T) {
	e, err := Parse([]byte(`
title: forms
processes: [{name: p, command: [x], stop_signal: sigint}]
steady_state_hypothesis:
  probes:
    - {name: a, http: {url: "http://x/", status: 204}}
    - {name: b, http: {url: "http://x/", status: [2XX, "404"]}}
method:
  - kill_process: {process: p, signal: SIGTERM}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Hypothesis.Probes[0].HTTP.Status; !cmp.Equal(got, Statuses{"204"}) {
		t.Errorf("status 204 = %q; want [204]", got)
	}
	if got := e.Hypothesis.Probes[1].HTTP.Status; !cmp.Equal(got, Statuses{"2xx", "404"}) {
		t.Errorf("status [2XX, 404] = %q; want [2xx 404]", got)
	}
	if e.Processes[0].StopSignal != "INT" || e.Method[0].KillProcess.Signal != "TERM" {
		t.Errorf("signals %q, %q; want INT, TERM", e.Processes[0].StopSignal, e.Method[0].KillProcess.Signal)
	}
}

// TestExamplesParse parses every experiment in examples/drills, and the
// holdfast config they run.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/drills/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v, %v; want at least 3", files, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "shop-via-chaos.yaml" {
			if _, err := config.Load(f); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		e, err := LoadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		abs, _ := filepath.Abs(filepath.Dir(f))
		for _, p := range e.Processes {
			if p.Dir != abs {
				t.Errorf("%s: process %s runs in %q; want the file's directory %q", f, p.Name, p.Dir, abs)
			}
		}
		if len(e.Rollbacks) == 0 {
			t.Errorf("%s: no rollbacks", f)
		}
	}
}

// TestValidateGoExperiment checks that an experiment built in Go gets the
// same checks as a file, negative durations included.
func TestValidateGoExperiment(t *testing.T) {
	e := &Experiment{
		Title:  "go",
		Load:   &Load{URL: "http://x/", Rate: 1, Timeout: -time.Second},
		Method: []*Action{{Wait: time.Second}, {Wait: -time.Second}},
	}
	err := e.Validate()
	want := "load.timeout: must not be negative, got -1s\nmethod[1].wait: must not be negative, got -1s"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v; want\n%s", err, want)
	}
}

func TestTokenFileIsRelativeToTheExperiment(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "e.yaml")
	os.WriteFile(f, []byte(minimal+"chaos: {token_file: tok}\nprocesses: [{name: p, command: [x], dir: sub}]\n"), 0o600)
	e, err := LoadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if e.Chaos.TokenFile != filepath.Join(dir, "tok") || e.Processes[0].Dir != filepath.Join(dir, "sub") {
		t.Errorf("token %q, dir %q; want both under %s", e.Chaos.TokenFile, e.Processes[0].Dir, dir)
	}
}

// FuzzParse checks that Parse never panics, that what it accepts is valid,
// shows in the journal as JSON, and reads back the same from its own YAML.
func FuzzParse(f *testing.F) {
	for _, tt := range parseErrorTests {
		f.Add(tt.yaml)
	}
	for _, name := range []string{"latency.yaml", "kill-proxy.yaml", "blast-radius.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../examples/drills", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := Parse([]byte(in))
		if err != nil {
			var es config.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v; want config.Errors", err, err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		if _, err := json.Marshal(asValue(e)); err != nil {
			t.Fatalf("journal form: %v", err)
		}
		out, err := yaml.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parsing\n%s\nfailed: %v", out, err)
		}
		if diff := cmp.Diff(e, again, cmpopts.IgnoreUnexported(Experiment{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the experiment (-first +second):\n%s", diff)
		}
	})
}
