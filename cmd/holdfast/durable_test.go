package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crashProc is a `holdfast serve` child that the test kills with SIGKILL
// and starts again on the same config, ports and data_dir.
type crashProc struct {
	t     *testing.T
	file  string
	admin string
	cmd   *exec.Cmd
	out   strings.Builder
	mu    sync.Mutex
}

func (p *crashProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(os.Args[0], "serve", "-c", p.file)
	p.cmd.Env = append(os.Environ(), childEnv+"=1")
	w := writerFunc(func(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.out.Write(b) })
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.t.Fatalf("holdfast not ready after 30 s: %v\n%s", err, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 kills the process at once: no drain, no store shutdown.
func (p *crashProc) kill9() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// TestDurableSurvivesKill9: POSTs arrive steadily at a durable route while
// the proxy is killed with SIGKILL five times, during accepts and
// deliveries, and restarted on the same data_dir. Every message that got
// a 202 is delivered after the restarts; the duplicate deliveries (which
// the receiver drops by Idempotency-Key) are counted and reported.
func TestDurableSurvivesKill9(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(2 * time.Millisecond) // deliveries are in flight when the kill comes
		mu.Lock()
		seen[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
	}))
	defer recv.Close()

	listen, admin := freePort(t), freePort(t)
	file := filepath.Join(t.TempDir(), "holdfast.yaml")
	cfg := fmt.Sprintf(`listen: %s
admin: {listen: %s}
drain: {delay: 1ms, timeout: 1s}
store: {data_dir: %s}
upstreams:
  orders: {endpoints: [{address: %s}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: orders
    timeout: 1s
    durable: {backoff: [0s, 50ms], attempts: 100, workers: 4}
`, listen, admin, filepath.Join(t.TempDir(), "data"), recv.URL)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &crashProc{t: t, file: file, admin: "http://" + admin}
	p.start()
	defer func() {
		p.cmd.Process.Signal(os.Interrupt)
		p.cmd.Wait()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("holdfast output:\n%s", p.out.String())
			p.mu.Unlock()
		}
	}()

	var accepted sync.Map // id -> true
	var nAccepted, nFailed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 3 * time.Second}
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post("http://"+listen+"/orders", "application/json", strings.NewReader(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)))
				if err != nil {
					nFailed.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				var a struct{ ID string }
				err = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted && err == nil && a.ID != "" {
					accepted.Store(a.ID, true)
					nAccepted.Add(1)
				} else {
					nFailed.Add(1)
				}
			}
		})
	}
	const kills = 5
	for range kills {
		time.Sleep(700 * time.Millisecond)
		p.kill9()
		p.start()
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	var ids []string
	accepted.Range(func(k, _ any) bool { ids = append(ids, `"`+k.(string)+`"`); return true })
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for _, id := range ids {
			if seen[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted messages never delivered", missing, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var dups, extra int
	for k, n := range seen {
		dups += n - 1
		if _, ok := accepted.Load(strings.Trim(k, `"`)); !ok {
			extra++
		}
	}
	if len(ids) < 100 {
		t.Errorf("only %d messages accepted across %d kills; want a real load", len(ids), kills)
	}
	t.Logf("%d kill -9s: %d accepted (202), all delivered; %d duplicate deliveries; %d delivered that the client never saw a 202 for (cut mid-accept); %d requests failed while the proxy was down",
		kills, len(ids), dups, extra, nFailed.Load())
}
