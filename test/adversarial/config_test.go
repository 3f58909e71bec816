//go:build !race

package adversarial

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostileConfig is a config holdfast must refuse, built around the running
// instance's addresses so that only the hostile part is wrong.
type hostileConfig struct {
	name string
	// build returns the file's content; dir is a scratch directory.
	build func(t *testing.T, v map[string]string, dir string) []byte
	// secret must appear in no output, answer or log line.
	secret string
}

const password = "Sup3r-S3cret-Passw0rd"

var hostileConfigs = []hostileConfig{
	{
		// Billion laughs, shaped by the schema: each of 4,000 aliased
		// routes holds 4,000 aliased header conditions, 16 million in all
		// from 90 KB of YAML.
		name: "alias_bomb",
		build: func(t *testing.T, v map[string]string, _ string) []byte {
			var b strings.Builder
			b.WriteString(renderConfig(t, "listen: {{.Listen}}\nadmin: {listen: {{.Admin}}}\nupstreams:\n  app:\n    endpoints: [{address: {{.A}}}]\n", v))
			b.WriteString("routes:\n  - &r\n    name: all\n    upstream: app\n    match:\n      headers:\n        - &h {name: X-A, present: true}\n")
			for range 4000 {
				b.WriteString("        - *h\n")
			}
			for range 4000 {
				b.WriteString("  - *r\n")
			}
			return []byte(b.String())
		},
	},
	{
		name: "over_16_MiB",
		build: func(t *testing.T, v map[string]string, _ string) []byte {
			b := []byte(renderConfig(t, minimal, v))
			line := "# " + strings.Repeat("padding ", 127) + "\n" // 1 KiB
			for len(b) <= 17<<20 {
				b = append(b, line...)
			}
			return b
		},
	},
	{
		name: "token_file_dev_zero",
		build: func(t *testing.T, v map[string]string, _ string) []byte {
			return []byte(strings.Replace(renderConfig(t, minimal, v), "admin: {listen: "+v["Admin"]+"}", "admin: {listen: "+v["Admin"]+", token_file: /dev/zero}", 1))
		},
	},
	{
		name: "token_file_fifo",
		build: func(t *testing.T, v map[string]string, dir string) []byte {
			fifo := filepath.Join(dir, "token.fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			return []byte(strings.Replace(renderConfig(t, minimal, v), "admin: {listen: "+v["Admin"]+"}", "admin: {listen: "+v["Admin"]+", token_file: "+fifo+"}", 1))
		},
	},
	{
		name: "second_yaml_document",
		build: func(t *testing.T, v map[string]string, _ string) []byte {
			good := renderConfig(t, minimal, v)
			return []byte(good + "---\n" + strings.Replace(good, "listen: "+v["Listen"], "listen: 0.0.0.0:1", 1))
		},
	},
	{
		name: "retry_max_body_bytes_maxint64",
		build: func(t *testing.T, v map[string]string, _ string) []byte {
			return []byte(renderConfig(t, minimal, v) + "    retry: {max_body_bytes: 9223372036854775807}\n")
		},
	},
	{
		name: "url_with_password",
		build: func(t *testing.T, v map[string]string, _ string) []byte {
			withUser := strings.Replace(v["A"], "http://", "http://holdfast:"+password+"@", 1)
			return []byte(strings.Replace(renderConfig(t, minimal, v), v["A"], withUser, 1))
		},
		secret: password,
	},
}

// validateRun is how one `holdfast validate` ended.
type validateRun struct {
	code    int
	output  string
	took    time.Duration
	peakMiB float64
	killed  string // why the test killed it, if it did
}

// runValidate runs holdfast validate on file for at most limit, killing it
// past 512 MiB.
func runValidate(file string, limit time.Duration) validateRun {
	var out lockedBuffer
	cmd := exec.Command(binary, "validate", "-c", file)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return validateRun{code: -1, output: err.Error()}
	}
	stop := memoryGuard(cmd.Process.Pid, 512)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var r validateRun
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		r.killed = fmt.Sprintf("still running after %v", limit)
	}
	r.took = time.Since(start)
	var killed bool
	r.peakMiB, killed = stop()
	if killed {
		r.killed = "passed 512 MiB of resident memory"
	}
	r.code = cmd.ProcessState.ExitCode()
	r.output = out.String()
	return r
}

// traffic sends a GET through the proxy every 20ms until stopped.
func traffic(addr string) (stop func() (ok int, failures []string)) {
	quit := make(chan struct{})
	var (
		mu     sync.Mutex
		n      int
		failed []string
	)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			resp, err := quickClient.Get("http://" + addr + "/during-reload")
			mu.Lock()
			if err != nil {
				failed = append(failed, err.Error())
			} else {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed = append(failed, resp.Status)
				} else {
					n++
				}
			}
			mu.Unlock()
			select {
			case <-quit:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	return func() (int, []string) {
		close(quit)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return n, failed
	}
}

// TestHostileConfig: validate and POST /reload refuse each hostile file
// promptly, within bounded memory, without echoing secrets, and the running
// proxy keeps serving throughout.
func TestHostileConfig(t *testing.T) {
	t.Parallel()
	for _, hc := range hostileConfigs {
		t.Run(hc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			backend := okBackend(t)
			vars := map[string]string{"Listen": unusedAddr(t), "Admin": unusedAddr(t), "A": backend.URL()}
			h := startHoldfast(t, minimal, vars)
			content := hc.build(t, vars, dir)

			file := filepath.Join(dir, "hostile.yaml")
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			v := runValidate(file, 3*time.Second)
			switch {
			case v.killed != "":
				t.Errorf("holdfast validate %s (peak %.0f MiB): killed", v.killed, v.peakMiB)
			case v.code != 1 || strings.Contains(v.output, "panic:"):
				t.Errorf("holdfast validate exited %d after %v; want 1 (refused)\n%s", v.code, v.took.Round(time.Millisecond), lastLines(v.output, 5))
			}
			if hc.secret != "" && strings.Contains(v.output, hc.secret) {
				t.Errorf("holdfast validate printed the password:\n%s", lastLines(v.output, 5))
			}

			stopTraffic := traffic(h.addr)
			stopGuard := memoryGuard(h.pid(), 512)
			h.replaceConfig(t, content)
			status, body, err := h.reload(3 * time.Second)
			if err != nil && strings.Contains(hc.name, "fifo") {
				// Let the reload that is stuck opening the FIFO finish, so
				// the instance can be checked (and stopped) at all.
				if f, ferr := os.OpenFile(filepath.Join(dir, "token.fifo"), os.O_WRONLY|syscall.O_NONBLOCK, 0); ferr == nil {
					f.Close()
				}
			}
			peak, killed := stopGuard()
			time.Sleep(100 * time.Millisecond)
			served, failures := stopTraffic()

			switch {
			case killed:
				t.Errorf("POST /reload: holdfast passed 512 MiB of resident memory; killed")
			case err == nil && status == http.StatusUnprocessableEntity && strings.Contains(body, "rejected"):
			default:
				t.Errorf("POST /reload: %d %q %v; want 422 rejected within 3s (peak %.0f MiB)", status, truncate([]byte(body), 200), err, peak)
			}
			if hc.secret != "" && strings.Contains(body, hc.secret) {
				t.Errorf("the reload answer contains the password: %s", body)
			}
			if len(failures) > 0 || served == 0 {
				t.Errorf("while reloading, %d requests failed and %d were served; want none failed (first failures: %v)", len(failures), served, failures[:min(len(failures), 3)])
			}
			if !killed {
				resp, _, err := roundTrip(h.addr, "GET /after HTTP/1.1\r\nHost: app\r\n\r\n", http.MethodGet, 3*time.Second)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("a request after the refused reload: %s %v; want 200 from the running config", statusOf(resp), err)
				}
			}
			if hc.secret != "" {
				if log := h.log.String(); strings.Contains(log, hc.secret) {
					t.Errorf("holdfast's log contains the password:\n%s", lastLines(grepLines(log, hc.secret), 3))
				}
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out bytes.Buffer
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}
