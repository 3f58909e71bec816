package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATSCluster starts n JetStream servers clustered on loopback, in
// this process (the nats-server module, as the binary runs it), and waits
// until the cluster takes a stream with n replicas.
func startNATSCluster(t *testing.T, n int) []*server.Server {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
			SyncAlways: true, NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "holdfast-test", Host: "127.0.0.1", Port: ports[i]}, Routes: routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(s.Shutdown)
		servers[i] = s
	}
	for _, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server did not start")
		}
	}
	nc, err := nats.Connect(clusterURL(servers))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "READY", Subjects: []string{"ready"}, Replicas: n})
		cancel()
		if err == nil {
			return servers
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not take an R%d stream: %v", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func clusterURL(servers []*server.Server) string {
	var us []string
	for _, s := range servers {
		us = append(us, s.ClientURL())
	}
	return strings.Join(us, ",")
}

// TestDurableClusterFleet: two proxies share a 3-node JetStream cluster
// (replicas 3). Both accept; a NATS node is shut down during delivery;
// every accepted message is delivered, and no message is ever being
// delivered by both proxies at once. Duplicates (a redelivery after an
// ack lost with the node) are counted.
func TestDurableClusterFleet(t *testing.T) {
	servers := startNATSCluster(t, 3)
	var mu sync.Mutex
	inFlight := map[string]string{} // key -> proxy delivering it
	seen := map[string]int{}
	byBoth := 0
	concurrent := 0
	handler := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			k := r.Header.Get(HeaderIdempotencyKey)
			mu.Lock()
			if other, ok := inFlight[k]; ok && other != name {
				concurrent++
			}
			inFlight[k] = name
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			delete(inFlight, k)
			if seen[k] > 0 {
				byBoth++
			}
			seen[k]++
			mu.Unlock()
		}
	}
	recvA := httptest.NewServer(handler("a"))
	defer recvA.Close()
	recvB := httptest.NewServer(handler("b"))
	defer recvB.Close()
	proxyCfg := func(upstream string) string {
		return yamlf(`store: {nats: {url: "%s", replicas: 3}}
upstreams:
	orders: {endpoints: [{address: %s}]}
routes:
	- name: orders
		match: {path_prefix: /orders}
		upstream: orders
		timeout: 2s
		durable: {backoff: [0s, 100ms], attempts: 100, workers: 4}
`, clusterURL(servers), upstream)
	}
	pa := startProxy(t, proxyCfg(recvA.URL))
	pb := startProxy(t, proxyCfg(recvB.URL))
	const n = 150
	var ids []string
	for i := range n {
		e := pa
		if i%2 == 1 {
			e = pb
		}
		ids = append(ids, formatIdempotencyKey(mustAccept(t, e.send(e.h1, "POST", "/orders", "x")).ID))
	}
	waitForLong(t, 20*time.Second, "a third delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= n/3 })
	servers[0].Shutdown()
	waitForLong(t, 25*time.Second, "every message delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if seen[id] == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if concurrent != 0 {
		t.Errorf("%d deliveries of a message the other proxy was delivering at the same time; want 0", concurrent)
	}
	t.Logf("%d messages through two proxies, a NATS node shut down mid-delivery: all delivered, %d duplicate deliveries, 0 concurrent", n, byBoth)
}
