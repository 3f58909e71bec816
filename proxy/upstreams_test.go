package proxy

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// spread sends n GETs and returns how many each backend answered, failing
// the test on any answer other than 200.
func (e *env) spread(n int) map[string]int {
	e.t.Helper()
	got := map[string]int{}
	for range n {
		r := e.get("/")
		mustOK(e.t, r)
		got[r.backend()]++
	}
	return got
}

// TestBalancers checks that each balancer spreads requests the way it
// promises.
func TestBalancers(t *testing.T) {
	t.Parallel()
	t.Run("round_robin", func(t *testing.T) {
		t.Parallel()
		a := testkit.Start(t, testkit.Config{Name: "a"})
		b := testkit.Start(t, testkit.Config{Name: "b"})
		c := testkit.Start(t, testkit.Config{Name: "c"})
		e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: round_robin
		endpoints: [{address: %s}, {address: %s}, {address: %s, weight: 2}]
routes:
	- name: all
		upstream: u
`, a.URL(), b.URL(), c.URL()))
		got := e.spread(40)
		if got["a"] != 10 || got["b"] != 10 || got["c"] != 20 {
			t.Errorf("spread %v; want a 10, b 10, c 20 for weights 1, 1, 2", got)
		}
	})
	t.Run("random", func(t *testing.T) {
		t.Parallel()
		a := testkit.Start(t, testkit.Config{Name: "a"})
		b := testkit.Start(t, testkit.Config{Name: "b"})
		e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: random
		endpoints: [{address: %s}, {address: %s, weight: 3}]
routes:
	- name: all
		upstream: u
`, a.URL(), b.URL()))
		// Binomial(400, 0.75): mean 300, standard deviation 8.7.
		if got := e.spread(400); got["b"] < 255 || got["b"] > 345 {
			t.Errorf("spread %v; want about 100 a and 300 b for weights 1, 3", got)
		}
	})
	t.Run("least_request", func(t *testing.T) {
		t.Parallel()
		a := testkit.Start(t, testkit.Config{Name: "a"})
		b := testkit.Start(t, testkit.Config{Name: "b"})
		a.Hang()
		e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: least_request
		endpoints: %s
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
		timeout: 30s
`, eps(a, b)))
		// Send requests until one hangs on a.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		hung := make(chan reply, 1)
		for a.InFlight() == 0 {
			done := make(chan reply, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/", nil)
				done <- do(e.h1, req)
			}()
			select {
			case r := <-done:
				mustOK(t, r)
			case <-waitChan(t, a, func() bool { return a.InFlight() == 1 }):
				go func() { hung <- <-done }()
			}
		}
		// With one request in flight on a and none on b, b wins every
		// comparison.
		before := b.Requests()
		got := e.spread(20)
		if got["b"] != 20 || b.Requests()-before != 20 {
			t.Errorf("spread %v; want all 20 on b while a has a request in flight", got)
		}
		cancel()
		<-hung
	})
	t.Run("p2c_ewma", func(t *testing.T) {
		t.Parallel()
		slow := testkit.Start(t, testkit.Config{Name: "slow"})
		fast := testkit.Start(t, testkit.Config{Name: "fast"})
		slow.Slow(100 * time.Millisecond)
		e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
`, eps(slow, fast)))
		if got := e.spread(60); got["slow"] > 10 {
			t.Errorf("spread %v; want the slow endpoint to get few requests", got)
		}
	})
}

// waitChan returns a channel closed once cond holds for b.
func waitChan(t *testing.T, b *testkit.Backend, cond func() bool) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
		defer cancel()
		if b.Wait(ctx, cond) == nil {
			close(ch)
		}
	}()
	return ch
}

// healthCheck is a fast active health check for tests.
const healthCheck = "health_check: {interval: 30ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1}"

// TestHealthChecks checks active health checks: an endpoint that fails
// them gets no traffic, and gets it back when it passes them again.
func TestHealthChecks(t *testing.T) {
	t.Parallel()
	a := testkit.Start(t, testkit.Config{Name: "a"})
	b := testkit.Start(t, testkit.Config{Name: "b"})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: round_robin
		endpoints: %s
		%s
routes:
	- name: all
		upstream: u
`, eps(a, b), healthCheck))
	epA := e.endpoint("u", a.URL())
	waitBackend(t, a, "a health check", func() bool { return a.HealthChecks() > 0 })

	a.SetHealthz(false)
	waitFor(t, "a to turn unhealthy", func() bool { return !epA.Healthy() })
	a.ResetCounters()
	if got := e.spread(20); got["b"] != 20 || a.Requests() != 0 {
		t.Errorf("spread %v, a got %d; want all on b while a is unhealthy", got, a.Requests())
	}

	a.SetHealthz(true)
	waitFor(t, "a to recover", func() bool { return epA.Healthy() })
	if got := e.spread(20); got["a"] != 10 || got["b"] != 10 {
		t.Errorf("spread %v; want a 10, b 10 once a is healthy again", got)
	}
}

// TestOutlierDetection checks passive ejection: for consecutive failures,
// for consecutive deadline misses, never past max_ejection_percent, and
// the ejected endpoint's return once its ejection ends.
func TestOutlierDetection(t *testing.T) {
	t.Parallel()
	t.Run("consecutive failures", func(t *testing.T) {
		t.Parallel()
		bad := testkit.Start(t, testkit.Config{Name: "bad"})
		good := testkit.Start(t, testkit.Config{Name: "good"})
		bad.Fail(500)
		e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: round_robin
		endpoints: %s
		outlier_detection: {consecutive_failures: 3, base_ejection_time: 2s}
routes:
	- name: all
		upstream: u
`, eps(bad, good)))
		fails := 0
		for range 20 {
			if r := e.get("/"); r.status == 500 {
				fails++
			}
		}
		if fails != 3 || bad.Requests() != 3 {
			t.Errorf("client saw %d failures, bad got %d requests; want 3 and 3: ejected after 3 failures", fails, bad.Requests())
		}

		// When the ejection ends, the endpoint is tried again; healthy
		// now, it stays in.
		bad.Healthy()
		ep := e.endpoint("u", bad.URL())
		waitFor(t, "the ejection to end", func() bool { return !ep.Ejected() })
		if got := e.spread(20); got["bad"] != 10 {
			t.Errorf("spread %v; want bad back in rotation", got)
		}
	})
	t.Run("deadline misses", func(t *testing.T) {
		t.Parallel()
		slow := testkit.Start(t, testkit.Config{Name: "slow"})
		fast := testkit.Start(t, testkit.Config{Name: "fast"})
		slow.Slow(300 * time.Millisecond)
		e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: round_robin
		endpoints: %s
		outlier_detection: {deadline: 150ms, consecutive_deadline_misses: 2, base_ejection_time: 30s}
routes:
	- name: all
		upstream: u
`, eps(slow, fast)))
		got := e.spread(20)
		if got["slow"] != 2 || slow.Requests() != 2 {
			t.Errorf("spread %v; want slow ejected after its 2 late answers", got)
		}
	})
	t.Run("max_ejection_percent", func(t *testing.T) {
		t.Parallel()
		var bs []*testkit.Backend
		for i := range 3 {
			b := testkit.Start(t, testkit.Config{Name: fmt.Sprint("b", i)})
			b.Fail(500)
			bs = append(bs, b)
		}
		e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: round_robin
		endpoints: %s
		outlier_detection: {consecutive_failures: 1, base_ejection_time: 30s, max_ejection_percent: 34}
routes:
	- name: all
		upstream: u
		retry: {attempts: 1}
`, eps(bs...)))
		for range 30 {
			if r := e.get("/"); r.status != 500 {
				t.Fatalf("status %d; want every backend's 500", r.status)
			}
		}
		ejected := 0
		for _, ep := range e.upstream("u").Endpoints() {
			if ep.Ejected() {
				ejected++
			}
		}
		if ejected != 1 {
			t.Errorf("%d endpoints ejected; want 1 of 3 (max_ejection_percent 34)", ejected)
		}
		serving := 0
		for _, b := range bs {
			b.ResetCounters()
		}
		for range 30 {
			e.get("/")
		}
		for _, b := range bs {
			if b.Requests() > 0 {
				serving++
			}
		}
		if serving != 2 {
			t.Errorf("%d backends got traffic; want 2", serving)
		}
	})
}

// TestFailover checks priority failover: priority 1 takes traffic only when
// priority 0 has no healthy endpoint left, and gives it back when one
// recovers.
func TestFailover(t *testing.T) {
	t.Parallel()
	a1 := testkit.Start(t, testkit.Config{Name: "a1"})
	a2 := testkit.Start(t, testkit.Config{Name: "a2"})
	standby := testkit.Start(t, testkit.Config{Name: "standby"})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: round_robin
		endpoints: [{address: %s}, {address: %s}, {address: %s, priority: 1}]
		%s
routes:
	- name: all
		upstream: u
`, a1.URL(), a2.URL(), standby.URL(), healthCheck))
	ep1, ep2 := e.endpoint("u", a1.URL()), e.endpoint("u", a2.URL())
	waitBackend(t, a1, "a health check", func() bool { return a1.HealthChecks() > 0 })

	if got := e.spread(20); got["a1"] != 10 || got["a2"] != 10 {
		t.Errorf("all healthy: spread %v; want a1 10, a2 10, standby none", got)
	}
	a1.SetHealthz(false)
	waitFor(t, "a1 to turn unhealthy", func() bool { return !ep1.Healthy() })
	if got := e.spread(20); got["a2"] != 20 {
		t.Errorf("a1 down: spread %v; want all on a2, priority 0 still has capacity", got)
	}
	a2.SetHealthz(false)
	waitFor(t, "a2 to turn unhealthy", func() bool { return !ep2.Healthy() })
	if got := e.spread(20); got["standby"] != 20 {
		t.Errorf("priority 0 down: spread %v; want all on standby", got)
	}
	a2.SetHealthz(true)
	waitFor(t, "a2 to recover", func() bool { return ep2.Healthy() })
	if got := e.spread(20); got["a2"] != 20 {
		t.Errorf("a2 back: spread %v; want all back on a2", got)
	}
}

// TestPanicMode checks that when no endpoint is healthy the proxy still
// sends traffic to all of them rather than failing every request.
func TestPanicMode(t *testing.T) {
	t.Parallel()
	a := testkit.Start(t, testkit.Config{Name: "a"})
	b := testkit.Start(t, testkit.Config{Name: "b"})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		balancer: round_robin
		endpoints: %s
		%s
routes:
	- name: all
		upstream: u
`, eps(a, b), healthCheck))
	a.SetHealthz(false)
	b.SetHealthz(false)
	up := e.upstream("u")
	waitFor(t, "panic mode", up.Panic)
	if got := e.spread(20); got["a"] != 10 || got["b"] != 10 {
		t.Errorf("panic: spread %v; want a 10, b 10", got)
	}
	b.SetHealthz(true)
	waitFor(t, "the end of panic mode", func() bool { return !up.Panic() })
	if got := e.spread(20); got["b"] != 20 {
		t.Errorf("b healthy: spread %v; want all on b", got)
	}
}
