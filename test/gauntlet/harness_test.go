//go:build !race

// The gauntlet drives a separately built holdfast binary in real time; the
// race detector would only slow the load generator down, so `make test` runs
// it in its own pass without -race (make gauntlet).

package gauntlet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// binary is the holdfast binary under test, built once by TestMain.
var binary string

// summary collects one line per scenario for the table printed at the end.
var summary struct {
	mu   sync.Mutex
	rows [][4]string
}

func report(id, fault, seen string, ok bool) {
	verdict := "pass"
	if !ok {
		verdict = "FAIL"
	}
	summary.mu.Lock()
	summary.rows = append(summary.rows, [4]string{id, fault, seen, verdict})
	summary.mu.Unlock()
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gauntlet")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "holdfast")
	build := exec.Command("go", "build", "-o", binary, "github.com/holdfast-dev/holdfast/cmd/holdfast")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "gauntlet: building holdfast:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if len(summary.rows) > 0 {
		fmt.Println("\ngauntlet summary")
		fmt.Printf("  %-3s  %-44s  %-58s  %s\n", "#", "fault", "what the client saw", "")
		for _, r := range summary.rows {
			fmt.Printf("  %-3s  %-44s  %-58s  %s\n", r[0], r[1], r[2], r[3])
		}
	}
	os.Exit(code)
}

// proc is a running holdfast serve.
type proc struct {
	cmd    *exec.Cmd
	file   string
	URL    string // data plane
	Admin  string // admin server
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// configData fills a config template: .Listen, .Admin and .B (backend
// URLs) are set by startProxy.
type configData struct {
	Listen, Admin string
	B             []string
}

func render(t *testing.T, tmpl string, d configData) string {
	t.Helper()
	var buf bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(tmpl)).Execute(&buf, d); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// startProxy writes the config and starts the real binary, waiting until it
// accepts connections.
func startProxy(t *testing.T, tmpl string, backends ...*testkit.Backend) *proc {
	t.Helper()
	d := configData{Listen: freeAddr(t), Admin: freeAddr(t)}
	for _, b := range backends {
		d.B = append(d.B, b.URL())
	}
	file := filepath.Join(t.TempDir(), "holdfast.yaml")
	if err := os.WriteFile(file, []byte(render(t, tmpl, d)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &proc{file: file, URL: "http://" + d.Listen, Admin: "http://" + d.Admin, stderr: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(binary, "serve", "-c", file)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("holdfast stderr:\n%s", tail(p.stderr.String(), 40))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.Listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("holdfast exited before serving: %v\n%s", err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("holdfast did not listen on %s within 10s\n%s", d.Listen, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// rewrite replaces the config file, to be picked up by a reload.
func (p *proc) rewrite(t *testing.T, content string) {
	t.Helper()
	tmp := p.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p.file); err != nil {
		t.Fatal(err)
	}
}

// rssKB reads the process's resident memory.
func (p *proc) rssKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

func backend(t *testing.T, name string) *testkit.Backend {
	t.Helper()
	return testkit.Start(t, testkit.Config{Name: name})
}

// drive sends GETs to url at rate for d.
func drive(t *testing.T, ctx context.Context, rate float64, d time.Duration, newReq func(context.Context) (*http.Request, error)) *loadgen.Result {
	t.Helper()
	res, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, Duration: d, Timeout: 5 * time.Second, NewRequest: newReq,
		IsSuccess: func(resp *http.Response, err error) bool { return err == nil && resp.StatusCode < 500 }})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func get(url string) func(context.Context) (*http.Request, error) {
	return func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "GET", url, nil)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond)) }
