package proxy

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/internal/redistest"
)

// sharedBreakerConfig is a proxy in front of backend whose breaker trips
// at 50% failures of at least 20 calls in 10 s, shared (or not) through
// redisAddr.
func sharedBreakerConfig(backend, redisAddr string, shared bool) string {
	s := ""
	if shared {
		s = "\t\tshared_breaker: {quorum: 2, sync_interval: 50ms}\n"
	}
	return yamlf(`
redis: {address: %[2]s, timeout: 250ms}
upstreams:
	ledger:
		endpoints: [{address: %[1]s}]
		circuit_breaker: {failure_rate: 0.5, minimum_requests: 20, window: 10s, open_duration: 30s}
%[3]sroutes:
	- name: ledger
		upstream: ledger
`, backend, redisAddr, s)
}

// timeToOpen offers rate req/s in all, spread evenly over the proxies,
// and returns how long until every proxy's breaker is open and how many
// requests reached the failing backend meanwhile.
func timeToOpen(t *testing.T, fleet []*env, backend *handlerBackend, rate int) (time.Duration, int64) {
	t.Helper()
	before := backend.requests.Load()
	start := time.Now()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var sent atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				e := fleet[i%len(fleet)]
				sent.Add(1)
				wg.Go(func() { e.get("/") })
			}
		}
	})
	allOpen := func() bool {
		for _, e := range fleet {
			if b := e.p.Status().Upstreams[0].Breaker; b == nil || b.State == breaker.Closed {
				return false
			}
		}
		return true
	}
	deadline := start.Add(20 * time.Second)
	for !allOpen() {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("breakers not all open after 20 s (%d requests sent)", sent.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	reached := backend.requests.Load() - before
	cancel()
	wg.Wait()
	return took, reached
}

// TestSharedBreakerTripsAsOne: one proxy seeing all of a failing
// upstream's traffic trips its breaker after the breaker's 20 calls; five
// proxies with a fifth of the traffic each, sharing their breakers through
// Redis, all trip within about the same time (one sync later), where alone
// each would need five times as long.
func TestSharedBreakerTripsAsOne(t *testing.T) {
	srv := redistest.Start(t)
	backend := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	const rate = 50 // req/s: 20 calls take 0.4 s

	single := []*env{startProxy(t, sharedBreakerConfig(backend.URL, srv.Addr(), false))}
	one, oneReached := timeToOpen(t, single, backend, rate)

	var fleet []*env
	for range 5 {
		fleet = append(fleet, startProxy(t, sharedBreakerConfig(backend.URL, srv.Addr(), true)))
	}
	five, fiveReached := timeToOpen(t, fleet, backend, rate)
	t.Logf("one proxy: open after %v, %d calls to the backend; five sharing: all open after %v, %d calls",
		one.Round(time.Millisecond), oneReached, five.Round(time.Millisecond), fiveReached)

	// Alone, each of the five would need 20 calls at 10 req/s: 2 s. Shared,
	// the fleet has its 20 after 0.4 s and every proxy learns it within a
	// sync or two (50 ms each); 0.5 s of slack is for a loaded machine.
	if five > one+500*time.Millisecond {
		t.Errorf("five sharing proxies all open after %v; want about one proxy's %v (at most 0.5 s more)", five, one)
	}
	if fiveReached > oneReached+25 {
		t.Errorf("five sharing proxies let %d calls reach the failing backend; want about one proxy's %d", fiveReached, oneReached)
	}
	leaders := 0
	for i, e := range fleet {
		s := e.p.Status().Upstreams[0].SharedBreaker
		if s == nil || !s.Open || s.Errors != 0 {
			t.Errorf("proxy %d: shared breaker %+v; want open by the fleet, no redis errors", i, s)
			continue
		}
		if s.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders; want 1", leaders)
	}
	if r := fleet[0].get("/"); r.status != http.StatusServiceUnavailable || r.header.Get("X-Holdfast-Reason") != ReasonBreakerOpen {
		t.Errorf("GET through an opened proxy = %d %q; want 503 %s", r.status, r.header.Get("X-Holdfast-Reason"), ReasonBreakerOpen)
	}
}
