//go:build !race

// These tests drive a separately built holdfast binary in real time; the race
// detector would instrument only the test's own clients and backends.

package adversarial

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
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
)

// binary is the holdfast binary under test, built once by TestMain.
var binary string

// binaryEnv names a prebuilt holdfast binary to test instead of building
// the working tree, such as a release build or an older commit's.
const binaryEnv = "HOLDFAST_ADVERSARIAL_BINARY"

func TestMain(m *testing.M) {
	// net/http's Transport reports every unsolicited response on an idle
	// connection through the standard logger; the reference proxy meets
	// such backends on purpose, hundreds of times.
	log.SetOutput(io.Discard)
	if binary = os.Getenv(binaryEnv); binary != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "holdfast-adversarial")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "holdfast")
	build := exec.Command("go", "build", "-o", binary, "github.com/holdfast-dev/holdfast/cmd/holdfast")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "adversarial: building holdfast:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer is a bytes.Buffer safe for one writer and many readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// instance is a running `holdfast serve`.
type instance struct {
	cmd   *exec.Cmd
	file  string // the config file it was started with
	addr  string // data plane, host:port
	admin string // admin API, host:port
	log   *lockedBuffer
	done  chan struct{} // closed when the process has exited
}

// unusedAddr returns a loopback address nothing listens on right now.
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// renderConfig fills tmpl. vars may use any keys; Listen and Admin are added
// when missing.
func renderConfig(t *testing.T, tmpl string, vars map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := template.Must(template.New("config").Option("missingkey=error").Parse(tmpl)).Execute(&buf, vars); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// startHoldfast writes the config rendered from tmpl and starts holdfast
// serve on it, returning once the data plane accepts connections and the
// admin API answers. A config holdfast refuses fails the test with its
// stderr, which names the problem.
func startHoldfast(t *testing.T, tmpl string, vars map[string]string) *instance {
	t.Helper()
	v := map[string]string{}
	for k, s := range vars {
		v[k] = s
	}
	if v["Listen"] == "" {
		v["Listen"] = unusedAddr(t)
	}
	if v["Admin"] == "" {
		v["Admin"] = unusedAddr(t)
	}
	file := filepath.Join(t.TempDir(), "holdfast.yaml")
	if err := os.WriteFile(file, []byte(renderConfig(t, tmpl, v)), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &instance{file: file, addr: v["Listen"], admin: v["Admin"], log: &lockedBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(binary, "serve", "-c", file)
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		<-h.done
		if t.Failed() {
			t.Logf("holdfast log (last lines):\n%s", lastLines(h.log.String(), 30))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if h.exited() {
			t.Fatalf("holdfast exited before serving (%v):\n%s", h.cmd.ProcessState, lastLines(h.log.String(), 20))
		}
		if c, err := net.DialTimeout("tcp", h.addr, 200*time.Millisecond); err == nil {
			c.Close()
			if resp, err := quickClient.Get("http://" + h.admin + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return h
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("holdfast did not serve %s within 10s:\n%s", h.addr, lastLines(h.log.String(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *instance) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *instance) pid() int { return h.cmd.Process.Pid }

// quickClient talks to admin APIs and well-behaved test servers.
var quickClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// statusDoc is the part of the admin API's GET /status the tests read.
type statusDoc struct {
	Upstreams []struct {
		Name             string `json:"name"`
		Panic            bool   `json:"panic"`
		Usable           int    `json:"usable"`
		Ejected          int    `json:"ejected"`
		EjectionsRefused int64  `json:"ejections_refused"`
		Endpoints        []struct {
			Address        string    `json:"address"`
			Healthy        bool      `json:"healthy"`
			Ejected        bool      `json:"ejected"`
			Ejections      int64     `json:"ejections"`
			InFlight       int       `json:"in_flight"`
			LastCheck      time.Time `json:"last_check"`
			LastCheckError string    `json:"last_check_error"`
		} `json:"endpoints"`
		Breaker *struct {
			State               string  `json:"state"`
			Calls               int64   `json:"calls"`
			Failures            int64   `json:"failures"`
			FailureRate         float64 `json:"failure_rate"`
			ConsecutiveFailures int64   `json:"consecutive_failures"`
			Trips               uint64  `json:"trips"`
		} `json:"breaker"`
	} `json:"upstreams"`
}

// status reads GET /status from the admin API.
func (h *instance) status(t *testing.T) statusDoc {
	t.Helper()
	resp, err := quickClient.Get("http://" + h.admin + "/status")
	if err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	defer resp.Body.Close()
	var s statusDoc
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	return s
}

// reload asks the admin API to re-read the config file, waiting at most
// timeout for the answer.
func (h *instance) reload(timeout time.Duration) (status int, body string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+h.admin+"/reload", nil)
	resp, err := quickClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// replaceConfig atomically replaces the file holdfast reloads from.
func (h *instance) replaceConfig(t *testing.T, content []byte) {
	t.Helper()
	tmp := h.file + ".new"
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, h.file); err != nil {
		t.Fatal(err)
	}
}

// rssMiB is the resident memory of process pid, in MiB; -1 once it is gone.
func rssMiB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return -1
}

// memoryGuard samples pid's RSS until stop is called, and kills the process
// once it passes limitMiB so that a runaway holdfast cannot take the shared
// machine down. stop returns the largest RSS seen and whether it killed.
func memoryGuard(pid int, limitMiB float64) (stop func() (peakMiB float64, killed bool)) {
	quit := make(chan struct{})
	var (
		mu     sync.Mutex
		peak   float64
		killed bool
	)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			r := rssMiB(pid)
			mu.Lock()
			peak = max(peak, r)
			if r > limitMiB && !killed {
				syscall.Kill(pid, syscall.SIGKILL)
				killed = true
			}
			mu.Unlock()
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	return func() (float64, bool) {
		once.Do(func() { close(quit) })
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return peak, killed
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// minimal is a config with one upstream, app (backend A), and one route
// that takes every request.
const minimal = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  app:
    endpoints: [{address: {{.A}}}]
routes:
  - name: all
    upstream: app
`
