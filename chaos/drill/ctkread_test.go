package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ctkParseTests are Chaos Toolkit experiments (JSON or YAML) and what
// holdfast reads from them: the method's and hypothesis's holdfast forms,
// or the errors, or the unsupported parts. They seed FuzzParseChaosToolkit.
var ctkParseTests = []struct {
	name        string
	src         string
	want        string   // the holdfast form of probes and method, as JSON; "" to skip
	errs        []string // every error, in order, each a substring
	unsupported []string // the parts refused, each a substring
}{
	{
		name: "json http probe and process action with pauses",
		src: `{"title": "t", "description": "d",
 "steady-state-hypothesis": {"title": "h", "probes": [
   {"type": "probe", "name": "ok", "tolerance": [200, 204], "provider": {"type": "http", "url": "http://127.0.0.1:1/", "timeout": [1, 2]}}]},
 "method": [{"type": "action", "name": "a", "provider": {"type": "process", "path": "echo", "arguments": ["x", 2, null, ""]}, "pauses": {"before": 1, "after": 2.5}}]}`,
		want: `{"method":[{"name":"pause before a","timeout":"10s","wait":"1s"},` +
			`{"duration":"2.5s","name":"a","process":{"any_exit_status":true,"arguments":["x","2"],"dir":".","path":"echo","timeout":"10s"},"timeout":"10s"}],` +
			`"probes":[{"http":{"method":"GET","timeout":"3s","url":"http://127.0.0.1:1/"},"name":"ok","tolerance":[200,204]}]}`,
	},
	{
		name: "yaml with configuration, a GET's arguments as the query, a form body, a shell string and a ref",
		src: `title: t
description: d
configuration:
  host: 127.0.0.1:2
  n: 3
method:
  - type: probe
    name: read
    provider: {type: http, url: "http://${host}/x", arguments: {a: "${n}", b: [1, 2]}}
  - type: action
    name: post a form
    provider: {type: http, method: post, url: "http://${host}/f", arguments: {k: v}}
  - type: action
    name: shell
    provider: {type: process, path: echo, arguments: "$$HOME is ${n}", timeout: 2}
  - ref: read
`,
		want: `{"method":[` +
			`{"http":{"method":"GET","status":["1xx","2xx","3xx","4xx","5xx"],"url":"http://127.0.0.1:2/x?a=3\u0026b=1\u0026b=2"},"name":"read","probe":true,"timeout":"10s"},` +
			`{"http":{"body":"k=v","headers":{"Content-Type":"application/x-www-form-urlencoded"},"method":"POST","status":["1xx","2xx","3xx","4xx","5xx"],"url":"http://127.0.0.1:2/f"},"name":"post a form","timeout":"10s"},` +
			`{"name":"shell","process":{"any_exit_status":true,"arguments":["-c","echo $HOME is 3"],"dir":".","path":"sh","timeout":"2s"},"timeout":"2s"},` +
			`{"http":{"method":"GET","status":["1xx","2xx","3xx","4xx","5xx"],"url":"http://127.0.0.1:2/x?a=3\u0026b=1\u0026b=2"},"name":"read","probe":true,"timeout":"10s"}],"probes":[]}`,
	},
	{
		name: "an empty method only checks the steady state",
		src:  `{"title": "t", "steady-state-hypothesis": {"title": "h", "probes": [{"type": "probe", "name": "p", "tolerance": 0, "provider": {"type": "process", "path": "true"}}]}, "method": []}`,
		want: `{"method":[],"probes":[{"name":"p","process":{"dir":".","path":"true","timeout":"5s"},"tolerance":0}]}`,
	},
	{
		name: "errors name the key and line",
		src: `title: ""
steady-state-hypothesis:
  title: h
  probes:
    - {type: probe, name: p, provider: {type: http, url: "http://x/"}}
    - {type: probe, name: q, tolerance: {type: range, range: [2, 1]}, provider: {type: http, url: "http://x/"}}
    - {type: probe, name: r, tolerance: 1, provider: {type: http, url: "ftp://x/"}}
method:
  - {type: actoin, name: a, provider: {type: http, url: "http://x/"}}
  - {type: action, name: b, provider: {type: shell}}
  - {type: action, name: c, provider: {type: process}}
  - {ref: nobody}
  - {type: action, name: d, provider: {type: process, path: x, timeout: soon}}
  - {type: action, name: e, provider: {type: process, path: x}, pauses: {after: later}}
`,
		errs: []string{
			"title (line 1): required",
			"steady-state-hypothesis.probes[0].tolerance (line 5): required: a probe of the hypothesis needs a tolerance",
			"steady-state-hypothesis.probes[1].tolerance.range (line 6): the lower bound 2 is above the upper 1",
			`steady-state-hypothesis.probes[2].provider.url (line 7): must be an http:// or https:// URL with a host; got "ftp://x/"`,
			"method[0].type (line 9): must be action or probe",
			`method[1].provider.type (line 10): must be http, process or python, got "shell"`,
			"method[2].provider.path (line 11): required",
			`method[3].ref (line 12): no activity of the experiment is named "nobody"`,
			"method[4].provider.timeout (line 13): must be a number of seconds",
			"method[5].pauses.after (line 14): must be a number of seconds",
		},
	},
	{
		name: "unsupported parts are named",
		src: `{"title": "t", "controls": [{"name": "c"}],
 "configuration": {"v": {"type": "vault", "path": "x"}},
 "runtime": {"rollbacks": {"strategy": "never"}},
 "steady-state-hypothesis": {"title": "h", "probes": [
   {"type": "probe", "name": "py", "tolerance": true, "provider": {"type": "python", "module": "chaosk8s.pod.probes", "func": "pods_in_phase"}},
   {"type": "probe", "name": "judged", "tolerance": {"type": "probe", "name": "j", "provider": {"type": "python", "module": "m", "func": "f"}}, "provider": {"type": "http", "url": "http://x/"}}]},
 "method": [
   {"type": "action", "name": "bg", "background": true, "provider": {"type": "process", "path": "true"}},
   {"type": "action", "name": "insecure", "provider": {"type": "http", "url": "https://x/", "verify_tls": false}},
   {"type": "action", "name": "ok", "provider": {"type": "process", "path": "true"}}]}`,
		unsupported: []string{
			`configuration.v (line 2): type "vault"`,
			"controls (line 1): holdfast drill runs no Chaos Toolkit controls",
			`runtime.rollbacks.strategy (line 3): "never"`,
			`steady-state-hypothesis.probes[0] "py" (line 5): a python provider (chaosk8s.pod.probes.pods_in_phase): holdfast drill runs no Python`,
			`steady-state-hypothesis.probes[1] "judged" (line 6): a tolerance of type probe`,
			`method[0] "bg" (line 8): background: true`,
			`method[1].provider.verify_tls (line 9): false`,
		},
	},
}

// holdfastOfExperiment is what a test compares: the holdfast forms of the
// hypothesis's probes and of the method.
func holdfastOfExperiment(e *Experiment) string {
	b, _ := json.Marshal(map[string]any{"probes": asValue(e.Hypothesis.Probes), "method": asValue(e.Method)})
	return string(b)
}

func TestParseChaosToolkit(t *testing.T) {
	for _, tt := range ctkParseTests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse([]byte(tt.src))
			var ue *UnsupportedError
			if len(tt.unsupported) > 0 {
				if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupported) {
					t.Fatalf("error %v; want an UnsupportedError", err)
				}
				if len(ue.Parts) != len(tt.unsupported) {
					t.Errorf("unsupported:\n%s\nwant %d", strings.Join(ue.Parts, "\n"), len(tt.unsupported))
				}
				for i, want := range tt.unsupported {
					if i < len(ue.Parts) && !strings.Contains(ue.Parts[i], want) {
						t.Errorf("unsupported[%d] = %q; want it to contain %q", i, ue.Parts[i], want)
					}
				}
				// Errors are reported before a refusal: with the
				// unsupported parts skipped, the errors remain.
				_, err = ParseWith([]byte(tt.src), LoadOptions{SkipUnsupported: true})
			}
			if len(tt.errs) > 0 {
				got := errorLines(err)
				if len(got) != len(tt.errs) {
					t.Fatalf("errors:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(tt.errs), strings.Join(tt.errs, "\n"))
				}
				for i, want := range tt.errs {
					if !strings.Contains(got[i], want) {
						t.Errorf("error %d = %q; want it to contain %q", i, got[i], want)
					}
				}
				return
			}
			if len(tt.unsupported) > 0 {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !e.FromChaosToolkit() {
				t.Error("FromChaosToolkit() = false")
			}
			if got := holdfastOfExperiment(e); got != tt.want {
				t.Errorf("holdfast form:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestSkipUnsupported(t *testing.T) {
	src := `{"title": "t",
 "steady-state-hypothesis": {"title": "h", "probes": [
   {"type": "probe", "name": "py", "tolerance": true, "provider": {"type": "python", "module": "m", "func": "f"}},
   {"type": "probe", "name": "ok", "tolerance": 0, "provider": {"type": "process", "path": "true"}}]},
 "method": [
   {"type": "action", "name": "py action", "provider": {"type": "python", "module": "m", "func": "g"}},
   {"type": "action", "name": "kept", "provider": {"type": "process", "path": "true"}}]}`
	e, err := ParseWith([]byte(src), LoadOptions{SkipUnsupported: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`steady-state-hypothesis.probes[0] "py" (line 3): a python provider (m.f): holdfast drill runs no Python`,
		`method[0] "py action" (line 6): a python provider (m.g): holdfast drill runs no Python`,
	}
	if diff := cmp.Diff(want, e.Skipped()); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if len(e.Hypothesis.Probes) != 1 || e.Hypothesis.Probes[0].Name != "ok" || len(e.Method) != 1 || e.Method[0].Name != "kept" {
		t.Errorf("probes %v, method %v; want the supported ones", e.Hypothesis.Probes, e.Method)
	}
}

// TestFormatDetection: holdfast's files are not read as Chaos Toolkit's,
// and Chaos Toolkit's are, by their keys alone.
func TestFormatDetection(t *testing.T) {
	for _, tt := range []struct {
		src string
		ctk bool
	}{
		{minimal, false},
		{"title: t\nsteady_state_hypothesis: {probes: [{name: p, http: {url: http://x/}}]}\nmethod: [{wait: 1s}]\n", false},
		{`{"title": "t", "method": [{"wait": "1s"}]}`, false},
		{`{"title": "t", "method": [{"type": "action", "name": "a", "provider": {"type": "process", "path": "true"}}]}`, true},
		{"title: t\nconfiguration: {a: 1}\nmethod: []\n", true},
		{"title: t\nsteady-state-hypothesis: {title: h}\nmethod: []\n", true},
	} {
		e, err := Parse([]byte(tt.src))
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if e.FromChaosToolkit() != tt.ctk {
			t.Errorf("%s: FromChaosToolkit() = %t; want %t", tt.src, e.FromChaosToolkit(), tt.ctk)
		}
	}
}

// FuzzParseChaosToolkit reads Chaos Toolkit experiments: nothing panics,
// and an experiment that parses validates.
func FuzzParseChaosToolkit(f *testing.F) {
	for _, tt := range ctkParseTests {
		f.Add(tt.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseWith([]byte(src), LoadOptions{SkipUnsupported: true})
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("parsed, then %v", err)
		}
		ctkExperiment(e)
	})
}

// TestRunChaosToolkitExperiment runs testdata/ctk/experiment.json, a Chaos
// Toolkit experiment, against a server on loopback: configuration from
// the environment and defaults, a secret in a header, an http action's
// JSON arguments, pauses, a shell string, a ref; its journal has Chaos
// Toolkit's shape.
func TestRunChaosToolkitExperiment(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(body))
		mu.Unlock()
		if r.URL.Path == "/json" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok": true}`)
		}
	}))
	defer srv.Close()
	t.Setenv("DRILL_TEST_BASE", srv.URL)
	e, err := LoadFile("testdata/ctk/experiment.json")
	if err != nil {
		t.Fatal(err)
	}
	if a := e.Method[0]; a.Wait != 50*time.Millisecond || e.Method[1].Duration != 50*time.Millisecond {
		t.Errorf("method[0] = %+v, method[1].duration %s; want the pause before as a wait, the pause after as the hold", a, e.Method[1].Duration)
	}
	j, err := Run(context.Background(), e, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != StatusCompleted || j.ExitCode() != ExitHeld {
		t.Fatalf("status %s, exit %d, reason %q; want completed, 0", j.Status, j.ExitCode(), j.AbortReason)
	}
	mu.Lock()
	want := []string{
		"GET / Bearer t0ken ", "GET /json  ", // before
		`POST /note  {"note":"a drill","wait":0.05}`,
		"GET / Bearer t0ken ",                // the ref, in the method
		"GET / Bearer t0ken ", "GET /json  ", // after
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	mu.Unlock()
	if out, _ := j.Run[2].Output.(map[string]any); out["stdout"] != "hello 2\n" {
		t.Errorf("the shell line's output %v; want hello 2", j.Run[2].Output)
	}
	if got := j.Run[3].Activity["type"]; got != "probe" {
		t.Errorf("the ref's activity type %v; want probe", got)
	}
	s, _ := genuineShape(t)
	var buf bytes.Buffer
	if err := j.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if errs := checkShape(s, buf.Bytes()); len(errs) > 0 {
		t.Errorf("the journal is not Chaos Toolkit's shape:\n%s", strings.Join(errs, "\n"))
	}
	// The secret went in the header, not in the journal.
	if bytes.Contains(buf.Bytes(), []byte("t0ken")) || !bytes.Contains(buf.Bytes(), []byte(`"Authorization": "(redacted)"`)) {
		t.Errorf("the journal holds the secret, or no redacted header:\n%s", buf.String())
	}
}
