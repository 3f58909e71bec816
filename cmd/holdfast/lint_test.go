package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/internal/lint"
)

// lintFiles writes files (name, YAML) into a fresh directory and returns
// the directory.
func lintFiles(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(files); i += 2 {
		if err := os.WriteFile(filepath.Join(dir, files[i]), []byte(files[i+1]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runLintIn runs holdfast lint with args in which DIR stands for dir, and
// returns the exit code, stdout and stderr with dir written as DIR again.
func runLintIn(dir string, args ...string) (int, string, string) {
	full := make([]string, len(args))
	for i, a := range args {
		full[i] = strings.ReplaceAll(a, "DIR", dir)
	}
	var out, errb bytes.Buffer
	code := runLint(full, &out, &errb)
	return code, strings.ReplaceAll(out.String(), dir, "DIR"), strings.ReplaceAll(errb.String(), dir, "DIR")
}

const (
	// lintClean has nothing to find: one attempt, no hedge.
	lintClean = "upstreams:\n  app: {endpoints: [{address: http://127.0.0.1:9001}]}\nroutes:\n  - {name: r, upstream: app, retry: {attempts: 1}}\n"
	// lintWarn can never eject either of its two endpoints.
	lintWarn = "upstreams:\n  app:\n    endpoints: [{address: http://127.0.0.1:9001}, {address: http://127.0.0.1:9002}]\n" +
		"    outlier_detection: {max_ejection_percent: 10}\nroutes:\n  - {name: r, upstream: app, retry: {attempts: 1}}\n"
	// lintEdge calls lintInner (127.0.0.1:8081) with a shorter timeout
	// and retries, and lintInner retries too.
	lintEdge = "listen: 127.0.0.1:8080\nupstreams:\n  a: {endpoints: [{address: http://127.0.0.1:8081}]}\n" +
		"routes:\n  - name: in\n    upstream: a\n    timeout: 1s\n"
	lintInner = "listen: 127.0.0.1:8081\nupstreams:\n  db:\n    endpoints: [{address: http://127.0.0.1:9001}, {address: http://127.0.0.1:9002}]\n" +
		"    outlier_detection: {max_ejection_percent: 100}\nroutes:\n  - name: out\n    upstream: db\n    timeout: 2s\n"
	// lintBroken does not parse: config's own errors are reported.
	lintBroken = "upstreams:\n  app: {endpoints: [{address: http://127.0.0.1:9001}]}\nroutes:\n  - name: r\n    upstream: ap\n    timeout: 5\n"
)

func TestLintExitCodes(t *testing.T) {
	dir := lintFiles(t, "clean.yaml", lintClean, "warn.yaml", lintWarn, "edge.yaml", lintEdge,
		"inner.yaml", lintInner, "broken.yaml", lintBroken)
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    string // "" for any; checked as a prefix of each line otherwise
		stderrHas string
	}{
		{"clean", []string{"-c", "DIR/clean.yaml"}, 0, "no findings\n", ""},
		{"warnings only", []string{"-c", "DIR/warn.yaml"}, 0, "", ""},
		{"errors", []string{"-c", "DIR/edge.yaml", "-c", "DIR/inner.yaml"}, 1, "", ""},
		{"errors within a raised bound still fail on timeouts", []string{"-c", "DIR/edge.yaml", "-c", "DIR/inner.yaml", "-max-amplification", "100"}, 1, "", ""},
		{"errors linked away", []string{"-c", "DIR/edge.yaml", "-c", "DIR/inner.yaml", "-link", "edge.yaml:a="}, 0, "", ""},
		{"a config that does not parse", []string{"-c", "DIR/clean.yaml", "-c", "DIR/broken.yaml"}, 2, "", ""},
		{"no file", nil, 2, "", "no config file"},
		{"a missing file", []string{"-c", "DIR/none.yaml"}, 2, "", "no such file"},
		{"an argument", []string{"-c", "DIR/clean.yaml", "DIR/warn.yaml"}, 2, "", "unexpected argument"},
		{"a bad format", []string{"-c", "DIR/clean.yaml", "-format", "xml"}, 2, "", "-format must be text or json"},
		{"a bad bound", []string{"-c", "DIR/clean.yaml", "-max-amplification", "0.5"}, 2, "", "-max-amplification must be at least 1"},
		{"a bad link", []string{"-c", "DIR/clean.yaml", "-link", "clean.yaml=x.yaml"}, 2, "", "-link must be FILE:UPSTREAM=FILE"},
		{"a link to a file not given", []string{"-c", "DIR/clean.yaml", "-link", "clean.yaml:app=x.yaml"}, 2, "", `no file "x.yaml" among the configs`},
		{"a link from an unknown upstream", []string{"-c", "DIR/clean.yaml", "-link", "clean.yaml:nope="}, 2, "", `has no upstream "nope"`},
		{"an unknown flag", []string{"-x"}, 2, "", "flag provided but not defined"},
		{"help", []string{"-h"}, 0, "", "usage: holdfast lint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runLintIn(dir, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d; want %d (stdout %q, stderr %q)", code, tt.code, out, errOut)
			}
			if tt.stdout != "" && out != tt.stdout {
				t.Errorf("stdout %q; want %q", out, tt.stdout)
			}
			if !strings.Contains(errOut, tt.stderrHas) {
				t.Errorf("stderr %q; want it to contain %q", errOut, tt.stderrHas)
			}
			if tt.stderrHas == "" && errOut != "" {
				t.Errorf("stderr %q; want nothing", errOut)
			}
		})
	}
}

// The findings of edge.yaml and inner.yaml, in the order they print.
var lintEdgeFindings = []lint.Finding{
	{
		File: "DIR/edge.yaml", Line: 5, Key: "routes[0]", Rule: "retry-amplification", Severity: lint.Error,
		Message: `one request here may become 9 requests to upstream "db" of DIR/inner.yaml, above the bound 3×: ` +
			"DIR/edge.yaml routes[0] (in) 3 attempts → DIR/inner.yaml routes[0] (out) 3 attempts. When that upstream fails, each request here sends it all 9; " +
			"once every hop's retry and hedge budgets bind, about 1.44× (their min_per_second floors still let a quiet hop retry every request). " +
			"Retry at one hop and set attempts: 1 at the others",
	},
	{
		File: "DIR/inner.yaml", Line: 5, Key: "upstreams.db.outlier_detection.max_ejection_percent", Rule: "ejection-all", Severity: lint.Warning,
		Message: "max_ejection_percent 100 lets outlier detection eject all 2 endpoints; with none usable the upstream goes into panic mode " +
			"and sends to every endpoint, the failing ones too: keep it below 100 (the default is 50)",
	},
	{
		File: "DIR/inner.yaml", Line: 9, Key: "routes[0].timeout", Rule: "timeout-inversion", Severity: lint.Error,
		Message: "2s is longer than the timeout 1s of DIR/edge.yaml routes[0] (in), which calls this route: " +
			"the caller gives up first, and this hop goes on working, and retrying, for an answer no one reads (make it shorter than the caller's)",
	},
}

func TestLintTextFormat(t *testing.T) {
	dir := lintFiles(t, "edge.yaml", lintEdge, "inner.yaml", lintInner, "broken.yaml", lintBroken)
	code, out, errOut := runLintIn(dir, "-c", "DIR/edge.yaml", "-c", "DIR/inner.yaml")
	var want strings.Builder
	for _, f := range lintEdgeFindings {
		want.WriteString(f.File + ":" + strconv.Itoa(f.Line) + ": " + f.Key + ": " + f.Message + " [" + f.Rule + "]\n")
	}
	want.WriteString("2 errors, 1 warning\n")
	if code != 1 || errOut != "" {
		t.Errorf("exit %d, stderr %q; want 1, nothing", code, errOut)
	}
	if diff := cmp.Diff(want.String(), out); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}

	code, out, _ = runLintIn(dir, "-c", "DIR/broken.yaml")
	wantBroken := `DIR/broken.yaml:5: routes[0].upstream: unknown upstream "ap" (have app) [config]` + "\n" +
		"DIR/broken.yaml:6: routes[0].timeout: must be a duration with a unit, such as 5s or 5ms, got 5 [config]\n" +
		"2 errors, 0 warnings\n"
	if code != 2 || out != wantBroken {
		t.Errorf("broken file: exit %d, stdout %q; want 2, %q", code, out, wantBroken)
	}
}

func TestLintJSONFormat(t *testing.T) {
	dir := lintFiles(t, "edge.yaml", lintEdge, "inner.yaml", lintInner, "clean.yaml", lintClean, "broken.yaml", lintBroken)
	tests := []struct {
		name string
		args []string
		code int
		want lint.Report
	}{
		{"findings", []string{"-c", "DIR/edge.yaml", "-c", "DIR/inner.yaml"}, 1,
			lint.Report{Findings: lintEdgeFindings, Errors: 2, Warnings: 1}},
		{"none", []string{"-c", "DIR/clean.yaml"}, 0, lint.Report{Findings: []lint.Finding{}}},
		{"config errors", []string{"-c", "DIR/broken.yaml"}, 2, lint.Report{Findings: []lint.Finding{
			{File: "DIR/broken.yaml", Line: 5, Key: "routes[0].upstream", Rule: "config", Severity: lint.Error, Message: `unknown upstream "ap" (have app)`},
			{File: "DIR/broken.yaml", Line: 6, Key: "routes[0].timeout", Rule: "config", Severity: lint.Error, Message: "must be a duration with a unit, such as 5s or 5ms, got 5"},
		}, Errors: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runLintIn(dir, append(tt.args, "-format", "json")...)
			if code != tt.code || errOut != "" {
				t.Errorf("exit %d, stderr %q; want %d, nothing", code, errOut, tt.code)
			}
			var got lint.Report
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("stdout is not a report: %v\n%s", err, out)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			// Severity is written as a word, for tools that read the JSON.
			if len(tt.want.Findings) > 0 && !strings.Contains(out, `"severity": "error"`) {
				t.Errorf("stdout has no \"severity\": \"error\":\n%s", out)
			}
		})
	}
}

// TestLintExample lints examples/lint: each of its findings is where the
// example's README says.
func TestLintExample(t *testing.T) {
	var out, errb bytes.Buffer
	code := runLint([]string{"-c", "../../examples/lint/edge.yaml", "-c", "../../examples/lint/service-a.yaml",
		"-c", "../../examples/lint/service-b.yaml", "-format", "json"}, &out, &errb)
	if code != 1 || errb.Len() > 0 {
		t.Fatalf("exit %d, stderr %q; want 1, nothing", code, errb.String())
	}
	var r lint.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, filepath.Base(f.File)+":"+strconv.Itoa(f.Line)+" "+f.Rule)
	}
	want := []string{
		"edge.yaml:9 retry-amplification",
		"edge.yaml:20 non-idempotent-retry",
		"edge.yaml:21 link-no-route",
		"service-a.yaml:11 timeout-inversion",
		"service-b.yaml:11 health-check-hair-trigger",
		"service-b.yaml:12 ejection-never",
		"service-b.yaml:19 retry-exceeds-timeout",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The example's README lists them too.
	readme, err := os.ReadFile("../../examples/lint/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		at, rule, _ := strings.Cut(w, " ")
		if row := "| `" + at + "` | `" + rule + "` |"; !strings.Contains(string(readme), row) {
			t.Errorf("examples/lint/README.md has no row %q", row)
		}
	}
}

// TestLintDocExamples runs the example of every rule in docs/lint.md: the
// YAML blocks of a rule's section (each starting with "# FILE"), as one
// hop each in order, must print exactly the section's output block.
func TestLintDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/lint.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rules, ok := strings.Cut(string(doc), "\n## Rules\n")
	if !ok {
		t.Fatal("docs/lint.md has no ## Rules section")
	}
	rules, _, _ = strings.Cut(rules, "\n## ")
	block := regexp.MustCompile("(?s)```(yaml)?\n(.*?)```")
	checked := 0
	for _, sec := range strings.Split(rules, "\n### ")[1:] {
		rule, _, _ := strings.Cut(sec, "\n")
		dir := t.TempDir()
		var args []string
		var want string
		for _, m := range block.FindAllStringSubmatch(sec, -1) {
			if m[1] == "" {
				want = m[2]
				continue
			}
			first, _, _ := strings.Cut(m[2], "\n")
			name, ok := strings.CutPrefix(first, "# ")
			if !ok {
				t.Errorf("%s: a YAML block that does not start with # FILE", rule)
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(m[2]), 0o600); err != nil {
				t.Fatal(err)
			}
			args = append(args, "-c", "DIR/"+name)
		}
		if len(args) == 0 {
			continue
		}
		checked++
		_, out, errOut := runLintIn(dir, args...)
		out = strings.ReplaceAll(out, "DIR/", "")
		lines := strings.SplitAfter(out, "\n")
		got := strings.Join(lines[:max(len(lines)-2, 0)], "") // without the counts
		if got != want || errOut != "" {
			t.Errorf("%s: lint prints\n%s(stderr %q)\nthe doc says\n%s", rule, got, errOut, want)
		}
		for _, l := range strings.Split(strings.TrimSuffix(want, "\n"), "\n") {
			if !strings.HasSuffix(l, "["+rule+"]") {
				t.Errorf("%s: the example's output %q is not of its rule", rule, l)
			}
		}
	}
	if checked < 13 {
		t.Errorf("checked %d rule examples; want every rule's (13)", checked)
	}
}

// TestLintCommand runs lint as the binary does, through the command table.
func TestLintCommand(t *testing.T) {
	dir := lintFiles(t, "clean.yaml", lintClean)
	var out, errb bytes.Buffer
	if code := run([]string{"lint", "-c", filepath.Join(dir, "clean.yaml")}, &out, &errb); code != 0 || out.String() != "no findings\n" {
		t.Errorf("holdfast lint: exit %d, stdout %q, stderr %q; want 0, \"no findings\\n\"", code, out.String(), errb.String())
	}
	out.Reset()
	run([]string{"help"}, &out, &errb)
	if !strings.Contains(out.String(), "\n  lint ") {
		t.Errorf("holdfast help does not list lint:\n%s", out.String())
	}
}

// TestLintShippedConfigs: the reference config a new user starts from
// passes holdfast lint. (The demo's config does not, on purpose: it
// retries and hedges hard to show a failing service rescued.)
func TestLintShippedConfigs(t *testing.T) {
	for _, f := range []string{"../../examples/holdfast.yaml"} {
		var out, errb bytes.Buffer
		if code := runLint([]string{"-c", f}, &out, &errb); code != 0 {
			t.Errorf("holdfast lint -c %s: exit %d; want 0\n%s%s", f, code, out.String(), errb.String())
		}
	}
}
