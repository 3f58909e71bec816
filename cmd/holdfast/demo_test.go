package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDemo runs the README's main command on the shipped demo config, moved
// to free ports, with a short load: the proxied side must do better than the
// direct one, and the table must name every backend.
func TestDemo(t *testing.T) {
	src, err := os.ReadFile("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(src)
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:9901", "127.0.0.1:19101", "127.0.0.1:19102", "127.0.0.1:19103", "127.0.0.1:19104"} {
		if !strings.Contains(cfg, addr) {
			t.Fatalf("examples/demo.yaml no longer uses %s; update this test", addr)
		}
		cfg = strings.ReplaceAll(cfg, addr, freePort(t))
	}
	file := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"demo", "-c", file, "-load", "6s", "-rate", "100", "-duration", "8s"}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}
	m := regexp.MustCompile(`success\s+([\d.]+)%\s+([\d.]+)%`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no success row in the demo's table:\n%s", out)
	}
	direct, _ := strconv.ParseFloat(m[1], 64)
	via, _ := strconv.ParseFloat(m[2], 64)
	if via < 99 || via <= direct {
		t.Errorf("success direct %.2f%%, through holdfast %.2f%%; want holdfast ≥ 99%% and better than direct\n%s", direct, via, out)
	}
	for _, role := range demoRoles {
		if !strings.Contains(out, role.name) {
			t.Errorf("the table does not name backend %q:\n%s", role.name, out)
		}
	}
	if !strings.Contains(out, "status page: http://") {
		t.Errorf("the demo does not point at its status page:\n%s", out)
	}
}
