//go:build !race

package gauntlet

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const durableOrders = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
store: {data_dir: DATA_DIR}
upstreams:
  orders: {endpoints: [{address: {{index .B 0}}}]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: orders
    timeout: 2s
    durable: {attempts: 200, backoff: [0s, 100ms, 250ms, 500ms, 1s, 2s], workers: 16}
  - name: pay
    match: {path_prefix: /pay}
    upstream: orders
    idempotency: {scope: header:Authorization}
`

// G12: the upstream is down for 60 s while 2,000 POSTs arrive at a
// durable route at 100/s (the numbers), then comes back: every
// POST got 202 and is delivered, and the receiver, dropping duplicates by
// Idempotency-Key, sees each once. Then G13: a client retries each POST to
// an idempotency route three times with the same key.
func TestG12DurableOutage(t *testing.T) {
	a := backend(t, "a")
	a.Refuse()
	p := startProxy(t, strings.Replace(durableOrders, "DATA_DIR", t.TempDir(), 1), a)
	client := &http.Client{Timeout: 5 * time.Second}
	const (
		n      = 2000
		rate   = 100 // POSTs a second
		outage = 60 * time.Second
	)
	keys := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	began := time.Now()
	var mu sync.Mutex
	notAccepted := 0
	for i := range n {
		time.Sleep(time.Until(began.Add(time.Duration(i) * time.Second / rate)))
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			resp, err := client.Post(p.URL+"/orders", "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
			var body struct{ ID string }
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusAccepted {
				mu.Lock()
				notAccepted++
				mu.Unlock()
				return
			}
			keys[i] = `"` + body.ID + `"`
		})
	}
	wg.Wait()
	time.Sleep(time.Until(began.Add(outage)))
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	lost, dups := 0, 0
	for {
		lost, dups = 0, 0
		for _, k := range keys {
			switch d := a.Deliveries(k); {
			case k == "":
			case d == 0:
				lost++
			case d > 1:
				dups += int(d - 1)
			}
		}
		if lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ok := notAccepted == 0 && lost == 0
	report("G12", "upstream down 60 s while 2,000 POSTs hit a durable route at 100/s",
		fmt.Sprintf("%d of %d got 202, %d lost after it came back, %d duplicate deliveries (dropped by Idempotency-Key)", n-notAccepted, n, lost, dups), ok)
	if !ok {
		t.Errorf("%d not accepted, %d lost; want 0 and 0", notAccepted, lost)
	}

	// The client retries each POST three times with the same key.
	a.ResetCounters()
	const m = 100
	replayed := 0
	for i := range m {
		key := fmt.Sprintf(`"pay-%d"`, i)
		for range 3 {
			req, _ := http.NewRequest("POST", p.URL+"/pay", strings.NewReader(`{"amount":1}`))
			req.Header.Set("Idempotency-Key", key)
			req.Header.Set("Authorization", "Bearer client")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Idempotent-Replayed") == "true" {
				replayed++
			}
		}
	}
	ran := a.RequestsByMethod("POST")
	ok = ran == m && replayed == 2*m
	report("G13", "a client retries each of 100 POSTs 3 times with one Idempotency-Key",
		fmt.Sprintf("upstream ran %d (want %d), %d replayed", ran, m, replayed), ok)
	if !ok {
		t.Errorf("upstream ran %d POSTs, %d replayed; want %d and %d", ran, replayed, m, 2*m)
	}
}
