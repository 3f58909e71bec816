package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// serveEnv is an instance as `holdfast serve` starts it, in-process, with
// its config in a file that tests rewrite and reload.
type serveEnv struct {
	t     *testing.T
	inst  *instance
	file  string
	dir   string
	data  string // data plane base URL
	admin string // admin base URL
}

const serveConfig = `listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_file: %[2]s}
access_log: {enabled: true, path: %[3]s}
upstreams:
  api:
    endpoints: [{address: %[1]s}]
routes:
  - name: api
    match: {path_prefix: /api}
    upstream: api
%[4]s`

func startServe(t *testing.T) (*serveEnv, *testkit.Backend) {
	t.Helper()
	b := testkit.Start(t, testkit.Config{Name: "api"})
	dir := t.TempDir()
	e := &serveEnv{t: t, dir: dir, file: filepath.Join(dir, "holdfast.yaml")}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.write(b.URL(), "access.log", "")
	cfg, err := config.Load(e.file)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	inst, err := startInstance(cfg, e.file, logger, io.Discard)
	if err != nil {
		t.Fatalf("startInstance: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- inst.server.Serve() }()
	t.Cleanup(func() {
		inst.server.Shutdown(context.Background())
		<-served
		inst.close()
	})
	e.inst = inst
	e.data = "http://" + inst.server.Addrs()[0].String()
	e.admin = "http://" + inst.adminAddr()
	return e, b
}

func (e *serveEnv) write(backend, accessLog, extraRoutes string) {
	e.t.Helper()
	body := fmt.Sprintf(serveConfig, backend, filepath.Join(e.dir, "token"), filepath.Join(e.dir, accessLog), extraRoutes)
	if err := os.WriteFile(e.file, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *serveEnv) do(method, url, token string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *serveEnv) lines(name string) []string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, name))
	if err != nil {
		e.t.Fatalf("reading %s: %v", name, err)
	}
	return strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' })
}

// TestServeRunsAdmin checks what `holdfast serve` wires up: the admin
// server on the configured address, metrics fed by the proxy, the access
// log, POST /reload re-reading the file behind the token, and readiness
// failing once draining starts.
func TestServeRunsAdmin(t *testing.T) {
	e, b := startServe(t)

	if status, _ := e.do("GET", e.data+"/api/items", ""); status != 200 {
		t.Fatalf("GET /api/items: got status %d; want 200", status)
	}
	// The proxy reports a request just after answering it, so the client
	// may read the answer first: wait until the request shows in the
	// metrics, which telemetry updates after writing the log line.
	waitMetric(t, e, `holdfast_route_requests_total{code_class="2xx",route="api"} 1`)
	lines := e.lines("access.log")
	if len(lines) != 1 {
		t.Fatalf("access.log: got %d lines; want 1: %q", len(lines), lines)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["route"] != "api" || line["upstream"] != "api" || line["status"] != 200.0 || line["endpoint"] != strings.TrimPrefix(b.URL(), "http://") {
		t.Errorf("access log line: got %v", line)
	}

	// Reload: a new route and a new access log file.
	e.write(b.URL(), "access2.log", "  - name: more\n    match: {path_prefix: /more}\n    upstream: api\n")
	if status, _ := e.do("POST", e.admin+"/reload", ""); status != 401 {
		t.Errorf("POST /reload without the token: got status %d; want 401", status)
	}
	if status, _ := e.do("POST", e.admin+"/reload", "wrong"); status != 401 {
		t.Errorf("POST /reload with a wrong token: got status %d; want 401", status)
	}
	if got := len(e.inst.proxy.Config().Routes); got != 1 {
		t.Fatalf("refused reloads changed the config: got %d routes; want 1", got)
	}
	if status, body := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 200 {
		t.Fatalf("POST /reload with the token: got status %d; want 200: %s", status, body)
	}
	if status, _ := e.do("GET", e.data+"/more/x", ""); status != 200 {
		t.Errorf("GET /more after the reload: got status %d; want 200", status)
	}
	waitMetric(t, e, `holdfast_route_requests_total{code_class="2xx",route="more"} 1`)
	if got := len(e.lines("access2.log")); got != 1 {
		t.Errorf("access2.log after the reload: got %d lines; want 1", got)
	}
	if got := len(e.lines("access.log")); got != 1 {
		t.Errorf("access.log after the reload: got %d lines; want still 1", got)
	}

	// A broken file is refused; the running config keeps serving.
	if err := os.WriteFile(e.file, []byte("routes: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, body := e.do("POST", e.admin+"/reload", "s3cret-token"); status != 422 || !strings.Contains(body, "invalid YAML") {
		t.Errorf("POST /reload of a broken file: got %d %s; want 422 invalid YAML", status, body)
	}
	if status, _ := e.do("GET", e.data+"/more/y", ""); status != 200 {
		t.Errorf("GET /more after a refused reload: got status %d; want 200", status)
	}

	if status, _ := e.do("GET", e.admin+"/readyz", ""); status != 200 {
		t.Errorf("GET /readyz: got status %d; want 200", status)
	}
	e.inst.admin.SetDraining()
	if status, _ := e.do("GET", e.admin+"/readyz", ""); status != 503 {
		t.Errorf("GET /readyz while draining: got status %d; want 503", status)
	}
}

// waitMetric polls /metrics until it has line. Each poll is a request to
// the admin server, not a sleep; the proxy reports a request right after
// answering it, so this ends after a poll or two.
func waitMetric(t *testing.T, e *serveEnv, line string) {
	t.Helper()
	for i := 0; ; i++ {
		_, body := e.do("GET", e.admin+"/metrics", "")
		if strings.Contains(body, line) {
			return
		}
		if i == 10000 {
			t.Fatalf("/metrics never showed %s:\n%s", line, body)
		}
	}
}
