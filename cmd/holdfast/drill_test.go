package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/holdfast-dev/holdfast/chaos/drill"
	"github.com/holdfast-dev/holdfast/chaos/toxic"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// writeExperiment writes an experiment file into a temporary directory.
func writeExperiment(t *testing.T, format string, args ...any) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "exp.yaml")
	if err := os.WriteFile(f, []byte(fmt.Sprintf(format, args...)), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDrillUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"drill"}, 2, "-f experiment.yaml is required"},
		{[]string{"drill", "-f", "x.yaml", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"drill", "-bogus"}, 2, "flag provided but not defined"},
		{[]string{"drill", "-h"}, 0, "exit status: 0 the hypothesis held, 1 it did not, 2 aborted"},
		{[]string{"drill", "-f", "/nonexistent.yaml"}, 2, "/nonexistent.yaml: open /nonexistent.yaml"},
		{[]string{"drill", "-render", "/nonexistent.json"}, 2, "open /nonexistent.json"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if code := run(tt.args, io.Discard, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("holdfast %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tt.args, " "), code, stderr.String(), tt.code, tt.want)
		}
	}
}

func TestDrillValidate(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"drill", "-validate", "-f", "../../examples/drills/blast-radius.yaml"}, &out, io.Discard); code != 0 {
		t.Fatalf("validate example: exit %d", code)
	}
	for _, want := range []string{
		`blast-radius.yaml: ok: "Errors between clients and holdfast stay within the blast radius"`,
		"chaos proxy front: 127.0.0.1:18080 -> http://127.0.0.1:8080",
		"method 2: escalate to 50%, hold 10s",
		"abort when: 1 probes, every 500ms",
		"rollback 1: remove the errors",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}

	bad := writeExperiment(t, "title: x\nmethod:\n  - wiat: 1s\n")
	var stderr bytes.Buffer
	if code := run([]string{"drill", "-validate", "-f", bad}, io.Discard, &stderr); code != 2 {
		t.Errorf("invalid experiment: exit %d; want 2", code)
	}
	if want := bad + `: method[0].wiat (line 3): unknown key (did you mean "wait"?)`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q; want %q", stderr.String(), want)
	}
}

// TestDrillExitCodes runs small experiments through the command: one that
// holds (0), one whose method breaks the server so the hypothesis deviates
// (1), and one that aborts through its abort condition and rolls a toxic
// back (2); each writes its journal and report.
func TestDrillExitCodes(t *testing.T) {
	var broken atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/break" {
			broken.Store(true)
			return
		}
		if broken.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	s := toxic.MustNewServer(toxic.Config{})
	defer s.Close()
	api := httptest.NewServer(s)
	defer api.Close()
	backend := testkit.Start(t, testkit.Config{Name: "backend"})
	front, err := s.CreateProxy(toxic.ProxySpec{Name: "front", Listen: "127.0.0.1:0", Upstream: backend.URL(), Protocol: "http", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}

	hypothesis := fmt.Sprintf(`
steady_state_hypothesis:
  probes:
    - name: the server answers
      http: {url: "%s/", status: 200}
`, srv.URL)
	tests := []struct {
		name       string
		experiment string
		code       int
		status     drill.Status
	}{
		{"holds", "title: holds\n" + hypothesis + "method:\n  - wait: 10ms\n", 0, drill.StatusCompleted},
		// As Chaos Toolkit has it: a deviated run completed.
		{"deviates", "title: deviates\n" + hypothesis + fmt.Sprintf("method:\n  - http: {url: \"%s/break\"}\n", srv.URL), 1, drill.StatusCompleted},
		{"aborts", fmt.Sprintf(`
title: aborts
chaos: {api: "%s"}
load: {url: "http://%s/", rate: 50}
method:
  - add_toxic: {proxy: front, name: boom, type: http_status}
    duration: 20s
rollbacks:
  - remove_toxic: {proxy: front, name: boom}
abort_when:
  every: 100ms
  probes:
    - {name: errors, load: {window: 1s, min_requests: 5, error_rate: {max: 0.2}}}
`, api.URL, front.Listen), 2, drill.StatusAborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeExperiment(t, "%s", tt.experiment)
			dir := t.TempDir()
			journal, report := filepath.Join(dir, "j.json"), filepath.Join(dir, "r.html")
			var stdout, stderr bytes.Buffer
			code := run([]string{"drill", "-q", "-f", file, "-journal", journal, "-report", report}, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			if want := fmt.Sprintf("%s: %s", tt.name, tt.status); !strings.HasPrefix(stdout.String(), want) {
				t.Errorf("stdout %q; want it to start with %q", stdout.String(), want)
			}
			f, err := os.Open(journal)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			j, err := drill.ReadJournal(f)
			if err != nil {
				t.Fatal(err)
			}
			if j.Status != tt.status || j.ExitCode() != code {
				t.Errorf("journal status %s (exit %d); want %s", j.Status, j.ExitCode(), tt.status)
			}
			page, err := os.ReadFile(report)
			if err != nil || !bytes.Contains(page, []byte(`<span class="badge">`+string(tt.status)+`</span>`)) {
				t.Errorf("report: %v; want a page with the status", err)
			}
			// The report renders again from the journal alone.
			again := filepath.Join(dir, "again.html")
			if code := run([]string{"drill", "-render", journal, "-report", again}, io.Discard, io.Discard); code != 0 {
				t.Fatalf("-render: exit %d", code)
			}
			if b, _ := os.ReadFile(again); !bytes.Equal(b, page) {
				t.Error("the report rendered from the journal differs from the run's")
			}
		})
	}
	if p, err := s.Proxy("front"); err != nil || len(p.Toxics) != 0 {
		t.Errorf("front after the aborted drill: %+v, %v; want it without toxics", p, err)
	}
}

// TestDrillInterrupted cancels the command's context, as SIGINT does.
func TestDrillInterrupted(t *testing.T) {
	file := writeExperiment(t, "title: interrupted\nmethod:\n  - wait: 1h\n")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := drillMain(ctx, drillOptions{file: file, journal: filepath.Join(dir, "j.json"), report: filepath.Join(dir, "r.html")}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stdout.String(), "interrupted: interrupted") || !strings.Contains(stderr.String(), "running the rollbacks") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2, interrupted", code, stdout.String(), stderr.String())
	}
}

// TestDrillChaosToolkitExperiment reads a Chaos Toolkit experiment: one
// with a python provider is refused with the activity named, runs with
// -skip-unsupported (which lists what it dropped), and writes a journal
// in Chaos Toolkit's format.
func TestDrillChaosToolkitExperiment(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "ctk.json")
	exp := fmt.Sprintf(`{
  "title": "from Chaos Toolkit",
  "description": "a python action among supported ones",
  "steady-state-hypothesis": {"title": "it answers", "probes": [
    {"type": "probe", "name": "answers", "tolerance": 200, "provider": {"type": "http", "url": "%s/"}}]},
  "method": [
    {"type": "action", "name": "terminate a pod", "provider": {"type": "python", "module": "chaosk8s.pod.actions", "func": "terminate_pods"}},
    {"type": "action", "name": "echo", "provider": {"type": "process", "path": "echo", "arguments": ["hi"]}}
  ]
}`, srv.URL)
	if err := os.WriteFile(file, []byte(exp), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	journal := filepath.Join(dir, "j.json")
	args := []string{"drill", "-q", "-f", file, "-journal", journal, "-report", filepath.Join(dir, "r.html")}

	var stderr bytes.Buffer
	if code := run(args, io.Discard, &stderr); code != 2 {
		t.Fatalf("exit %d; want 2 (refused)\n%s", code, stderr.String())
	}
	want := file + `: method[0] "terminate a pod" (line 7): a python provider (chaosk8s.pod.actions.terminate_pods): holdfast drill runs no Python`
	if !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "-skip-unsupported runs the rest") {
		t.Errorf("stderr:\n%s\nwant it to name the activity: %s", stderr.String(), want)
	}
	if _, err := os.Stat(journal); err == nil {
		t.Error("a refused experiment wrote a journal")
	}

	var out bytes.Buffer
	if code := run([]string{"drill", "-validate", "-skip-unsupported", "-f", file}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "a Chaos Toolkit experiment; 1 parts skipped") {
		t.Errorf("-validate: exit %d\n%s", code, out.String())
	}

	stderr.Reset()
	if code := run(append(args, "-skip-unsupported"), io.Discard, &stderr); code != 0 {
		t.Fatalf("-skip-unsupported: exit %d; want 0\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), file+`: skipped, holdfast drill cannot run it: method[0] "terminate a pod"`) {
		t.Errorf("stderr %q; want the skipped activity named", stderr.String())
	}
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	exp2, _ := j["experiment"].(map[string]any)
	method, _ := exp2["method"].([]any)
	if j["chaoslib-version"] != drill.ChaoslibVersion || j["status"] != "completed" || exp2["steady-state-hypothesis"] == nil || len(method) != 1 {
		t.Errorf("journal: chaoslib-version %v, status %v, hypothesis %v, method %v; want Chaos Toolkit's format, completed, one action", j["chaoslib-version"], j["status"], exp2["steady-state-hypothesis"], method)
	}
}
