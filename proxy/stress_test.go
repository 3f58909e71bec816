package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// TestConcurrentTraffic runs many clients at once, over both protocols,
// with retries, hedging, a concurrency limit, flaky and slow backends and
// clients that give up midway. Under -race it shakes out data races; at
// the end nothing may be left in flight anywhere.
func TestConcurrentTraffic(t *testing.T) {
	t.Parallel()
	good := testkit.Start(t, testkit.Config{Name: "good", H2C: true})
	flaky := testkit.Start(t, testkit.Config{Name: "flaky", H2C: true, Seed: 7})
	slow := testkit.Start(t, testkit.Config{Name: "slow", H2C: true, Seed: 9})
	flaky.FailPercent(20, 503)
	slow.SlowTail(10, 200*time.Millisecond)
	for _, protocol := range []string{"http1", "h2c"} {
		t.Run("upstream "+protocol, func(t *testing.T) {
			e := startProxy(t, yamlf(`
upstreams:
	u:
		protocol: %s
		endpoints: %s
		concurrency: {limit: 64}
routes:
	- name: all
		upstream: u
		timeout: 5s
		retry: {attempts: 3, per_try_timeout: 2s, backoff: {base: 1ms, max: 5ms}}
		hedge: {delay: 50ms, budget_percent: 50}
`, protocol, eps(good, flaky, slow)))
			const workers, each = 12, 20
			var wg sync.WaitGroup
			errs := make(chan string, workers*each)
			for w := range workers {
				wg.Go(func() {
					c := e.clients()[w%2].c
					for i := range each {
						method, body := []string{"GET", "POST", "PUT"}[i%3], ""
						if method != "GET" {
							body = strings.Repeat("b", 1+i*97)
						}
						ctx, cancel := context.WithCancel(t.Context())
						if i%7 == 6 {
							// A client that gives up after 20ms.
							ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
						}
						req, _ := http.NewRequestWithContext(ctx, method, e.url+"/x", strings.NewReader(body))
						req.Header.Set("X-Request-Id", fmt.Sprintf("w%d-%d", w, i))
						r := do(c, req)
						gaveUp := ctx.Err() != nil
						cancel()
						switch {
						case gaveUp:
						case r.err != nil:
							errs <- fmt.Sprintf("%s %s: %v", method, req.Header.Get("X-Request-Id"), r.err)
						case r.status == 200 && r.body != r.backend():
							errs <- fmt.Sprintf("%s: 200 with body %q from %q", method, short(r.body), r.backend())
						case r.status != 200 && r.status != 503:
							errs <- fmt.Sprintf("%s: status %d %q", method, r.status, short(r.body))
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for msg := range errs {
				t.Error(msg)
			}
			for _, b := range []*testkit.Backend{good, flaky, slow} {
				waitBackend(t, b, "no request in flight", func() bool { return b.InFlight() == 0 })
			}
			cl := e.p.state.Load().clusters["u"]
			waitFor(t, "the proxy to have nothing in flight", func() bool {
				n := cl.bulkhead.InFlight()
				for _, ep := range cl.up.Endpoints() {
					n += ep.InFlight()
				}
				return n == 0
			})
		})
	}
}
