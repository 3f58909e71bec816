package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runValidateFile writes src to a file, runs `holdfast validate -c FILE`
// and returns the exit code, stdout and stderr, with the file's path
// replaced by FILE.
func runValidateFile(t *testing.T, src string) (int, string, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "holdfast.yaml")
	if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"validate", "-c", f}, &out, &errb)
	return code, strings.ReplaceAll(out.String(), f, "FILE"), strings.ReplaceAll(errb.String(), f, "FILE")
}

func TestValidateAcceptsTheExample(t *testing.T) {
	src, err := os.ReadFile("../../examples/holdfast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runValidateFile(t, string(src))
	if code != 0 || out != "FILE: ok\n" || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0, \"FILE: ok\\n\", nothing", code, out, errOut)
	}
}

// badFile has errors of every kind: unknown keys, values of the wrong
// shape, and values the policies refuse, on known lines.
const badFile = `listen: 127.0.0.1:8080
upstreams:
  catalog:
    endpoints:
      - address: http://127.0.0.1:9001
        wieght: 2
      - address: ftp://127.0.0.1:9002
    balancer: fastest
    outlier_detection: {max_ejection_percent: 150}
    circuit_breaker: {failure_rate: 2}
routes:
  - name: read
    upstream: catalogue
    timeout: 5
    retry:
      attempts: 3
      budget: {ratio: 1.5}
      retry_on: [sometimes]
  - name: read
    match: {path_regex: "("}
    upstream: catalog
    rate_limit: {requests_per_second: 10, key: cookie}
`

func TestValidateReportsEveryError(t *testing.T) {
	code, out, errOut := runValidateFile(t, badFile)
	if code != 1 {
		t.Errorf("exit %d; want 1", code)
	}
	if out != "" {
		t.Errorf("stdout %q; want nothing", out)
	}
	want := []string{
		`FILE: upstreams.catalog.endpoints[0].wieght (line 6): unknown key (did you mean "weight"?)`,
		`FILE: upstreams.catalog.endpoints[1].address (line 7): must be an http:// or https:// URL, got "ftp://127.0.0.1:9002"`,
		`FILE: upstreams.catalog.balancer (line 8): must be one of p2c_ewma, round_robin, least_request, random; got "fastest"`,
		`FILE: upstreams.catalog.outlier_detection.max_ejection_percent (line 9): must be in [1, 100], got 150`,
		`FILE: upstreams.catalog.circuit_breaker.failure_rate (line 10): `,
		`FILE: routes[0].upstream (line 13): unknown upstream "catalogue" (have catalog)`,
		`FILE: routes[0].timeout (line 14): must be a duration with a unit, such as 5s or 5ms; got 5`,
		`FILE: routes[0].retry.budget.ratio (line 17): must be in (0, 1], got 1.5`,
		`FILE: routes[0].retry.retry_on[0] (line 18): unknown condition "sometimes"`,
		`FILE: routes[1].name (line 19): duplicate route name "read" (also routes[0])`,
		`FILE: routes[1].match.path_regex (line 20): invalid regular expression`,
		`FILE: routes[1].rate_limit.key (line 22): must be route, ip or header:NAME; got "cookie"`,
		`FILE: 12 error(s)`,
	}
	got := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("stderr has %d lines; want %d:\n%s\ndiff (-want +got):\n%s", len(got), len(want), errOut, cmp.Diff(want, got))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d = %q; want prefix %q", i+1, got[i], want[i])
		}
	}
}

func TestValidateFailures(t *testing.T) {
	tests := []struct {
		name     string
		args     []string // nil: write src and validate it
		src      string
		wantCode int
		wantErr  string
	}{
		{"yaml syntax", nil, "routes: [\n", 1, "FILE: line 1: invalid YAML"},
		{"empty file", nil, "", 1, "FILE: upstreams: at least one upstream is required\nFILE: routes: at least one route is required\nFILE: 2 error(s)\n"},
		{"not a mapping", nil, "- a\n- b\n", 1, "FILE: line 1: the file must be a mapping"},
		{"missing file", []string{"validate", "-c", "/nonexistent/holdfast.yaml"}, "", 1, "/nonexistent/holdfast.yaml: open /nonexistent/holdfast.yaml: no such file or directory"},
		{"bad flag", []string{"validate", "-x"}, "", 2, "flag provided but not defined: -x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var code int
			var out, errOut string
			if tt.args == nil {
				code, out, errOut = runValidateFile(t, tt.src)
			} else {
				var ob, eb bytes.Buffer
				code = run(tt.args, &ob, &eb)
				out, errOut = ob.String(), eb.String()
			}
			if code != tt.wantCode {
				t.Errorf("exit %d; want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q; want nothing", out)
			}
			if !strings.HasPrefix(errOut, tt.wantErr) {
				t.Errorf("stderr %q; want prefix %q", errOut, tt.wantErr)
			}
		})
	}
}
