//go:build !race

package gauntlet

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATS builds nats-server from the module's own dependency and
// starts n clustered JetStream nodes on loopback, each syncing every
// write, and returns their processes and client URLs.
func startNATS(t *testing.T, n int) ([]*exec.Cmd, []string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building nats-server: %v\n%s", err, out)
	}
	client, cluster := make([]string, n), make([]string, n)
	for i := range n {
		client[i], cluster[i] = freeAddr(t), freeAddr(t)
	}
	var routes []string
	for _, c := range cluster {
		routes = append(routes, "nats-route://"+c)
	}
	cmds := make([]*exec.Cmd, n)
	for i := range n {
		dir := t.TempDir()
		cfg := fmt.Sprintf(`listen: %s
server_name: n%d
jetstream { store_dir: %q, sync_interval: always }
cluster { name: holdfast, listen: %s, routes: [%s] }
`, client[i], i, dir, cluster[i], strings.Join(routes, ", "))
		file := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmds[i] = exec.Command(bin, "-c", file)
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
		c := cmds[i]
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	for _, a := range client {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if c, err := net.Dial("tcp", a); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nats-server on %s did not listen", a)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	urls := make([]string, n)
	for i, a := range client {
		urls[i] = "nats://" + a
	}
	// Ready once the cluster takes a stream with n replicas.
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "READY", Subjects: []string{"ready"}, Replicas: n})
		cancel()
		if err == nil {
			return cmds, urls
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not take an R%d stream: %v", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const clusterOrders = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
store: {nats: {url: "NATS_URL", replicas: 3}}
upstreams:
  orders: {endpoints: [{address: {{index .B 0}}}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: orders
    timeout: 2s
    durable: {attempts: 100, backoff: [0s, 100ms, 250ms], workers: 4}
`

// G15: two holdfast proxies share a 3-node JetStream cluster
// (replicas 3, nats-server built from the module); one NATS node is
// killed with SIGKILL during delivery. Nothing is lost, and no message is
// delivered by both proxies.
func TestG15DurableClusterKill(t *testing.T) {
	servers, urls := startNATS(t, 3)
	a, b := backend(t, "a"), backend(t, "b")
	a.Slow(100 * time.Millisecond)
	b.Slow(100 * time.Millisecond)
	tmpl := strings.Replace(clusterOrders, "NATS_URL", strings.Join(urls, ","), 1)
	pa, pb := startProxy(t, tmpl, a), startProxy(t, tmpl, b)
	client := &http.Client{Timeout: 10 * time.Second}
	const n = 300
	var keys []string
	var mu sync.Mutex
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; len(keys) < n; i++ {
		url := pa.URL
		if i%2 == 1 {
			url = pb.URL
		}
		resp, err := client.Post(url+"/orders", "application/json", strings.NewReader(`{}`))
		if err == nil {
			var body struct{ ID string }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				mu.Lock()
				keys = append(keys, `"`+body.ID+`"`)
				mu.Unlock()
				continue
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d accepted in 30 s (the cluster not ready?)", len(keys))
		}
		time.Sleep(50 * time.Millisecond)
	}
	delivered := func() int {
		d := 0
		for _, k := range keys {
			if a.Deliveries(k)+b.Deliveries(k) > 0 {
				d++
			}
		}
		return d
	}
	for delivered() < n/3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	servers[0].Process.Kill()
	killedAt := delivered()
	deadline = time.Now().Add(30 * time.Second)
	for delivered() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	lost, byBoth, dups := n-delivered(), 0, 0
	for _, k := range keys {
		da, db := a.Deliveries(k), b.Deliveries(k)
		if da > 0 && db > 0 {
			byBoth++
		}
		if da+db > 1 {
			dups += int(da + db - 1)
		}
	}
	ok := lost == 0 && byBoth == 0
	report("G15", "2 proxies on a 3-node NATS cluster, a node kill -9'd mid-delivery",
		fmt.Sprintf("%d accepted, killed at %d delivered: %d lost, %d delivered by both proxies, %d duplicates", n, killedAt, lost, byBoth, dups), ok)
	if !ok {
		t.Errorf("%d lost, %d delivered by both proxies; want 0 and 0", lost, byBoth)
	}
}
