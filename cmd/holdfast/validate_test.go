package main

import (
	"bytes"
	"encoding/json"
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
		`FILE: upstreams.catalog.balancer (line 8): must be one of p2c_ewma, round_robin, least_request, random, got "fastest"`,
		`FILE: upstreams.catalog.outlier_detection.max_ejection_percent (line 9): must be in [1, 100], got 150`,
		`FILE: upstreams.catalog.circuit_breaker.failure_rate (line 10): `,
		`FILE: routes[0].upstream (line 13): unknown upstream "catalogue" (have catalog)`,
		`FILE: routes[0].timeout (line 14): must be a duration with a unit, such as 5s or 5ms, got 5`,
		`FILE: routes[0].retry.budget.ratio (line 17): must be in (0, 1], got 1.5`,
		`FILE: routes[0].retry.retry_on[0] (line 18): unknown condition "sometimes"`,
		`FILE: routes[1].name (line 19): duplicate route name "read" (also routes[0])`,
		`FILE: routes[1].match.path_regex (line 20): invalid regular expression`,
		`FILE: routes[1].rate_limit.key (line 22): must be route, ip or header:NAME, got "cookie"`,
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

// hostileFiles are config files that must not hurt the running proxy:
// `holdfast validate` and a reload (POST /reload, SIGHUP) refuse each one
// fast, with the key or line named and no password shown, and the running
// config keeps serving.
func hostileFiles(t *testing.T) []struct{ name, src, want string } {
	const base = "upstreams:\n  api:\n    endpoints: [{address: http://127.0.0.1:1}]\nroutes:\n  - name: api\n    upstream: api\n"
	// 1,000 aliases of a route with 1,000 methods: 14 KB that expand to a
	// million values.
	laughs := base + "  - &r {name: r, upstream: api, match: {methods: [GET" + strings.Repeat(", GET", 999) + "]}}\n" + strings.Repeat("  - *r\n", 1000)
	big := base + strings.Repeat("#\n", 8<<20+1)
	return []struct{ name, src, want string }{
		{"billion laughs", laughs, "routes[101] (line 107): alias *r takes the values that aliases repeat past 100000"},
		{"file over 16 MiB", big, "read FILE: config file larger than 16 MiB"},
		{"token file that never ends", "admin: {token_file: /dev/zero}\n" + base, "admin.token_file (line 1): cannot read: /dev/zero is not a regular file (it is a character device)"},
		{"second document", base + "---\nroutes: []\n", "line 7: a second YAML document starts here"},
		{"replay buffer at the int64 maximum", base + "    retry: {max_body_bytes: 9223372036854775807}\n", "routes[0].retry.max_body_bytes (line 7): must be in [0, 1073741824] (1 GiB)"},
		{"header bytes at the int64 maximum", "limits: {max_header_bytes: 9223372036854775807}\n" + base, "limits.max_header_bytes (line 1): must be in [1, 1048576] (1 MiB)"},
		{"listen of the wrong type", "listen: {a: b}\n" + base + "    timeout: 5\n", "listen (line 1): must be an address or a list of addresses, got a mapping\nroutes[0].timeout (line 8): must be a duration with a unit"},
		{"password in an endpoint", strings.Replace(base, "http://127.0.0.1:1", "'http://user:s3cr3t@127.0.0.1:1'", 1), `upstreams.api.endpoints[0].address (line 3): must not carry user information, got "http://user:xxxxx@127.0.0.1:1"`},
	}
}

func TestValidateRefusesHostileFiles(t *testing.T) {
	for _, tt := range hostileFiles(t) {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runValidateFile(t, tt.src)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			// validate prefixes each error with the file name.
			want := "FILE: " + strings.ReplaceAll(tt.want, "\n", "\nFILE: ")
			if strings.HasPrefix(tt.want, "read FILE") {
				want = "FILE: " + tt.want
			}
			if !strings.HasPrefix(errOut, want) {
				t.Errorf("stderr:\n%s\nwant it to start with:\n%s", errOut, want)
			}
			if strings.Contains(errOut, "s3cr3t") {
				t.Errorf("stderr shows the password:\n%s", errOut)
			}
		})
	}
}

func TestReloadRefusesHostileFiles(t *testing.T) {
	e, _ := startServe(t)
	for _, tt := range hostileFiles(t) {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(e.file, []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.want, "FILE", e.file)
			status, body := e.do("POST", e.admin+"/reload", "s3cret-token")
			var answer struct{ Status, Error string }
			if err := json.Unmarshal([]byte(body), &answer); err != nil {
				t.Fatalf("POST /reload: %v in %q", err, body)
			}
			if status != 422 || answer.Status != "rejected" || !strings.HasPrefix(answer.Error, want) {
				t.Errorf("POST /reload: got %d %+v; want 422 rejected with an error starting %q", status, answer, want)
			}
			// What SIGHUP does, and what the log line says.
			if err := e.inst.reload(); err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("reload: got %v; want an error starting %q", err, want)
			} else if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(body, "s3cr3t") {
				t.Errorf("the reload's answer or log shows the password: %s", body)
			}
			if status, _ := e.do("GET", e.data+"/api/x", ""); status != 200 {
				t.Errorf("GET /api/x after the refused reload: got %d; want 200", status)
			}
			if got := e.inst.proxy.Config().Routes; len(got) != 1 || got[0].Name != "api" {
				t.Errorf("running routes after the refused reload: %d; want the one the env started with", len(got))
			}
		})
	}
}
