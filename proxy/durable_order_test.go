package proxy

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestDurableOrderBy: 10 keys × 30 messages through an upstream that fails
// a third of deliveries at random: each key's messages arrive in the order
// they were accepted (the receiver dropping duplicates by Idempotency-Key).
func TestDurableOrderBy(t *testing.T) {
	const keys, perKey = 10, 30
	var mu sync.Mutex
	seen := map[string]bool{}
	got := map[string][]int{}
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		if rand.IntN(3) == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		mu.Lock()
		defer mu.Unlock()
		if k := r.Header.Get(HeaderIdempotencyKey); !seen[k] {
			seen[k] = true
			acct := r.Header.Get("X-Account-Id")
			got[acct] = append(got[acct], n)
		}
	})
	cfg := durableConfig(t, b.URL, "{attempts: 1000, backoff: [0s, 5ms], order_by: header:X-Account-Id, partitions: 4}")
	// The route's own retries would resend at once, which keeps order too;
	// turned off so that every failure goes through the queue's backoff.
	cfg += "    retry: {attempts: 1}\n"
	e := startProxy(t, cfg)
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			for i := range perKey {
				r := e.send(e.h1, "POST", fmt.Sprintf("/orders?n=%d", i), "x", "X-Account-Id", fmt.Sprint("acct-", k))
				if r.status != http.StatusAccepted {
					t.Errorf("POST: %d %q", r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	waitForLong(t, 25*time.Second, "every message delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == keys*perKey
	})
	mu.Lock()
	defer mu.Unlock()
	for acct, ns := range got {
		for i, n := range ns {
			if n != i {
				t.Errorf("%s: delivered in order %v; want 0..%d", acct, ns, perKey-1)
				break
			}
		}
	}
}

// TestDurableStoreUnreachable: with an external NATS whose server goes
// away, a POST gets 503 store_unavailable with Retry-After, never 202, and
// an idempotent request is refused the same way, not forwarded.
func TestDurableStoreUnreachable(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	rc := startReceiver(t, nil)
	cfg := yamlf(`store: {nats: {url: "%s"}}
upstreams:
	orders: {endpoints: [{address: %s}]}
routes:
	- name: orders
		match: {path_prefix: /orders}
		upstream: orders
		timeout: 1s
		durable: {}
	- name: pay
		match: {path_prefix: /pay}
		upstream: orders
		idempotency: {}
`, ns.ClientURL(), rc.url())
	e := startProxy(t, cfg)
	mustAccept(t, e.send(e.h1, "POST", "/orders", "before"))
	waitForLong(t, 10*time.Second, "delivery", func() bool { d, _ := rc.counts(); return d == 1 })
	ns.Shutdown()
	ns.WaitForShutdown()
	r := e.send(e.h1, "POST", "/orders", "after")
	checkLocal(t, r, http.StatusServiceUnavailable, ReasonStoreUnavailable)
	retryAfter(t, r)
	// An idempotent request is not forwarded without its record.
	r = e.send(e.h1, "POST", "/pay", "x", HeaderIdempotencyKey, `"k"`)
	checkProblem(t, r, http.StatusServiceUnavailable)
	retryAfter(t, r)
	if d, _ := rc.counts(); d != 1 {
		t.Errorf("receiver saw %d; want 1 (the message before the store went away)", d)
	}
}
