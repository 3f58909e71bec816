//go:build !race

// The gauntlet drives a separately built holdfast binary in real time; the
// race detector would only slow the load generator down, so `make test` runs
// it in its own pass without -race (make gauntlet).

// Package gauntlet runs end-to-end fault scenarios against the real holdfast
// binary on loopback, in real time, and asserts what a client sees. It is
// part of `make test`; a summary table is printed at the end.
package gauntlet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
)

const threeEndpoints = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  svc:
    endpoints:
      - address: {{index .B 0}}
      - address: {{index .B 1}}
      - address: {{index .B 2}}
    health_check: {path: /healthz, interval: 1s, timeout: 500ms, healthy_threshold: 2, unhealthy_threshold: 2}
    outlier_detection: {consecutive_failures: 3, deadline: 250ms, consecutive_deadline_misses: 2, base_ejection_time: 10s, max_ejection_percent: 50}
routes:
  - name: svc
    upstream: svc
    timeout: 3s
    retry:
      attempts: 3
      per_try_timeout: 250ms
      retry_on: [connect_failure, reset, gateway_error]
      backoff: {base: 5ms, max: 50ms}
    hedge: {delay: 100ms, max_extra: 1, budget_percent: 20}
`

// G1: one of three endpoints refuses connections.
func TestG1RefusedConnections(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	c.Refuse()
	p := startProxy(t, threeEndpoints, a, b, c)
	res := drive(t, context.Background(), 500, 20*time.Second, get(p.URL+"/g1"))
	ok := res.SuccessRate() >= 0.999
	report("G1", "1 of 3 endpoints refuses connections", fmt.Sprintf("%.3f%% of %d GETs succeeded at 500 rps (≥ 99.9%%)", res.SuccessRate()*100, res.Sent), ok)
	if !ok {
		t.Errorf("success rate %.4f (%d of %d; statuses %v); want ≥ 0.999", res.SuccessRate(), res.Succeeded, res.Sent, res.Statuses)
	}
}

// G2: one of three endpoints adds 2s of latency.
func TestG2SlowEndpoint(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	c.Slow(2 * time.Second)
	p := startProxy(t, threeEndpoints, a, b, c)
	res := drive(t, context.Background(), 200, 12*time.Second, get(p.URL+"/g2"))
	var afterFailed int
	for _, pt := range res.Timeline {
		if pt.Offset >= 2*time.Second {
			afterFailed += pt.Failed
		}
	}
	// The timeline holds per-second quantiles; the worst second after the
	// first two bounds the p99 of the whole stretch.
	worst := time.Duration(0)
	for _, pt := range res.Timeline {
		if pt.Offset >= 2*time.Second && pt.P99 > worst {
			worst = pt.P99
		}
	}
	ok := worst < 300*time.Millisecond && afterFailed == 0
	report("G2", "1 of 3 endpoints adds 2s of latency", fmt.Sprintf("worst per-second p99 after 2s: %s (< 300ms), %d failed", ms(worst), afterFailed), ok)
	if !ok {
		t.Errorf("worst p99 after the first 2s = %v, failures %d; want < 300ms and 0 (timeline %+v)", worst, afterFailed, res.Timeline)
	}
}

const failingUpstream = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  svc:
    endpoints:
      - address: {{index .B 0}}
      - address: {{index .B 1}}
    outlier_detection: {disabled: true}
    circuit_breaker: {failure_rate: 0.5, window: 5s, minimum_requests: 20, open_duration: 3s, half_open_requests: 3}
routes:
  - name: svc
    upstream: svc
    timeout: 2s
    retry:
      attempts: 3
      retry_on: [5xx]
      backoff: {base: 5ms, max: 20ms}
      budget: {ratio: 0.2, min_per_second: 5}
    fallback: {status: 200, body: cached, on: [breaker_open]}
`

// G3: the whole upstream returns 500.
func TestG3UpstreamDown(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	a.Fail(500)
	b.Fail(500)
	p := startProxy(t, failingUpstream, a, b)

	var fast, slow atomic.Int64
	res := drive(t, context.Background(), 200, 8*time.Second, func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "GET", p.URL+"/g3", nil)
	})
	for _, pt := range res.Timeline {
		if pt.P99 < 200*time.Millisecond {
			fast.Add(1)
		} else {
			slow.Add(1)
		}
	}
	received := a.Requests() + b.Requests()
	amplification := float64(received) / float64(res.Sent)

	// Recovery: the upstream heals; success must return within
	// open_duration (3s) + 2s.
	a.Healthy()
	b.Healthy()
	healed := time.Now()
	var recovered time.Duration
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Since(healed) < 10*time.Second {
		resp, err := client.Get(p.URL + "/g3")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(body) != "cached" {
				recovered = time.Since(healed)
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fallbacks := res.Statuses[200]
	ok := amplification <= 1.25 && recovered > 0 && recovered <= 5*time.Second && fallbacks > 0 && slow.Load() == 0
	report("G3", "the whole upstream returns 500", fmt.Sprintf("upstream got %.2f× client requests (≤ 1.25), %d fallbacks, recovered in %s", amplification, fallbacks, ms(recovered)), ok)
	if !ok {
		t.Errorf("amplification %.2f (upstream %d / client %d), fallbacks %d, slow seconds %d, recovered after %v; want ≤ 1.25, > 0, 0, ≤ 5s (statuses %v, timeline %+v)",
			amplification, received, res.Sent, fallbacks, slow.Load(), recovered, res.Statuses, res.Timeline)
	}
}

const overload = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  svc:
    endpoints:
      - address: {{index .B 0}}
    outlier_detection: {disabled: true}
    concurrency:
      adaptive: {min: 2, max: 200, initial: 8, window: 100ms, probe_interval: 5s}
routes:
  - name: svc
    upstream: svc
    timeout: 5s
    retry: {attempts: 1}
`

// G4: three times the upstream's capacity.
func TestG4Overload(t *testing.T) {
	const workers, service = 4, 20 * time.Millisecond
	capacity := float64(workers) / service.Seconds() // 200 rps
	a := backend(t, "a")
	a.Capacity(workers, service, 0)
	p := startProxy(t, overload, a)

	base := drive(t, context.Background(), capacity/4, 3*time.Second, get(p.URL+"/g4"))
	unloadedP99 := base.Latency.Quantile(0.99)
	rssBefore := p.rssKB(t)

	// Admitted latency is judged after the limit has had 2s to adapt.
	const seconds = 10
	var mu sync.Mutex
	var admitted loadgen.Histogram
	start := time.Now()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Rate: 3 * capacity, Duration: seconds * time.Second, Timeout: 5 * time.Second,
		NewRequest: get(p.URL + "/g4"),
		IsSuccess: func(resp *http.Response, err error) bool {
			return err == nil && resp.StatusCode == 200
		},
		OnDone: func(o loadgen.Outcome) {
			if o.Success && o.Due.Sub(start) >= 2*time.Second {
				mu.Lock()
				admitted.Record(o.Latency)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	admittedP99 := admitted.Quantile(0.99)
	mu.Unlock()
	goodput := float64(res.Succeeded) / seconds
	rssAfter := p.rssKB(t)
	ok := goodput >= 0.85*capacity && res.Statuses[503] > 0 && admittedP99 <= 3*unloadedP99 && rssAfter-rssBefore < 64<<10
	seen := fmt.Sprintf("goodput %.0f/s of %.0f (≥ 85%%), admitted p99 %s (≤ 3×%s), %d shed, RSS %+d KiB",
		goodput, capacity, ms(admittedP99), ms(unloadedP99), res.Statuses[503], rssAfter-rssBefore)
	report("G4", "3× the upstream's capacity", seen, ok)
	if !ok {
		t.Errorf("%s; statuses %v", seen, res.Statuses)
	}
}

const flakyPosts = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  svc:
    endpoints:
      - address: {{index .B 0}}
      - address: {{index .B 1}}
    outlier_detection: {disabled: true}
routes:
  - name: svc
    upstream: svc
    timeout: 2s
    retry:
      attempts: 3
      retry_on: [connect_failure, reset, 5xx]
      backoff: {base: 1ms, max: 5ms}
      budget: {ratio: 1, min_per_second: 1000}
`

// G5: non-idempotent POSTs to a flaky endpoint.
func TestG5NonIdempotentPosts(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	a.FailPercent(50, 503)
	b.FailPercent(50, 503)
	p := startProxy(t, flakyPosts, a, b)
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(id string, idempotent bool) int {
		req, _ := http.NewRequest("POST", p.URL+"/orders", strings.NewReader(`{"qty":1}`))
		req.Header.Set("X-Request-Id", id)
		if idempotent {
			req.Header.Set("Idempotency-Key", id)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const n = 300
	dup, plainOK := 0, 0
	for i := range n {
		id := "plain-" + strconv.Itoa(i)
		if post(id, false) == 200 {
			plainOK++
		}
		if a.Deliveries(id)+b.Deliveries(id) > 1 {
			dup++
		}
	}
	retried, keyedOK := 0, 0
	for i := range n {
		id := "keyed-" + strconv.Itoa(i)
		if post(id, true) == 200 {
			keyedOK++
		}
		if a.Deliveries(id)+b.Deliveries(id) > 1 {
			retried++
		}
	}
	ok := dup == 0 && retried > 0 && keyedOK > plainOK
	report("G5", "non-idempotent POSTs to a flaky endpoint", fmt.Sprintf("%d of %d delivered twice; with Idempotency-Key %d retried, %d→%d OK", dup, n, retried, plainOK, keyedOK), ok)
	if !ok {
		t.Errorf("duplicates without key %d (want 0); retried with key %d (want > 0); OK plain %d vs keyed %d", dup, retried, plainOK, keyedOK)
	}
}

const priorities = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  svc:
    endpoints:
      - address: {{index .B 0}}
      - address: {{index .B 1}}
      - address: {{index .B 2}}
        priority: 1
    health_check: {path: /healthz, interval: 1s, timeout: 300ms, healthy_threshold: 1, unhealthy_threshold: 1}
    outlier_detection: {disabled: true}
routes:
  - name: svc
    upstream: svc
    timeout: 2s
`

// G6: all of priority group 0 down.
func TestG6PriorityFailover(t *testing.T) {
	a, b, standby := backend(t, "a"), backend(t, "b"), backend(t, "standby")
	p := startProxy(t, priorities, a, b, standby)
	client := &http.Client{Timeout: 2 * time.Second}
	whoAnswers := func() string {
		resp, err := client.Get(p.URL + "/g6")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.Header.Get("X-Backend")
	}
	waitFor := func(want func(string) bool, limit time.Duration) time.Duration {
		start := time.Now()
		for time.Since(start) < limit {
			if want(whoAnswers()) {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return -1
	}
	if d := waitFor(func(s string) bool { return s == "a" || s == "b" }, 5*time.Second); d < 0 {
		t.Fatal("priority 0 never answered")
	}
	a.SetHealthz(false)
	b.SetHealthz(false)
	failover := waitFor(func(s string) bool { return s == "standby" }, 5*time.Second)
	a.SetHealthz(true)
	b.SetHealthz(true)
	failback := waitFor(func(s string) bool { return s == "a" || s == "b" }, 5*time.Second)
	ok := failover >= 0 && failover <= 2*time.Second && failback >= 0 && failback <= 2*time.Second
	report("G6", "all of priority group 0 down", fmt.Sprintf("failed over in %s, back in %s (≤ 2 health-check intervals)", ms(failover), ms(failback)), ok)
	if !ok {
		t.Errorf("failover after %v, failback after %v; want both within 2s (2 intervals)", failover, failback)
	}
}

const reloadable = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
drain: {delay: 1s, timeout: 10s}
upstreams:
  svc:
    endpoints:
      - address: {{index .B 0}}
      - address: {{index .B 1}}
routes:
  - name: svc
    upstream: svc
    timeout: {{.Timeout}}
`

// G7: reloads and SIGTERM under load.
func TestG7ReloadAndDrain(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	tmpl := strings.Replace(reloadable, "{{.Timeout}}", "5s", 1)
	p := startProxy(t, tmpl, a, b)
	valid := render(t, tmpl, configData{Listen: strings.TrimPrefix(p.URL, "http://"), Admin: strings.TrimPrefix(p.Admin, "http://"), B: []string{a.URL(), b.URL()}})

	done := make(chan *loadgen.Result)
	go func() { done <- drive(t, context.Background(), 2000, 10*time.Second, get(p.URL+"/g7")) }()
	for i := range 6 {
		time.Sleep(1500 * time.Millisecond)
		if i == 3 {
			p.rewrite(t, "routes: [{name: broken, upstream: nowhere}]\n")
		} else {
			p.rewrite(t, strings.Replace(valid, "timeout: 5s", fmt.Sprintf("timeout: %ds", 5+i), 1))
		}
		p.signal(t, syscall.SIGHUP)
	}
	res := <-done
	reloads := strings.Count(p.stderr.String(), `"msg":"reloaded"`)
	rejected := strings.Count(p.stderr.String(), "reload rejected")
	reloadOK := res.Failed == 0 && reloads == 5 && rejected == 1

	// Drain: slow requests in flight when SIGTERM arrives must all finish.
	a.Slow(1500 * time.Millisecond)
	b.Slow(1500 * time.Millisecond)
	inflight := make(chan int, 20)
	client := &http.Client{Timeout: 10 * time.Second}
	for range 20 {
		go func() {
			resp, err := client.Get(p.URL + "/drain")
			if err != nil {
				inflight <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			inflight <- resp.StatusCode
		}()
	}
	time.Sleep(300 * time.Millisecond)
	p.signal(t, syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	ready := 0
	if resp, err := http.Get(p.Admin + "/readyz"); err == nil {
		ready = resp.StatusCode
		resp.Body.Close()
	}
	drainedOK := 0
	for range 20 {
		if <-inflight == 200 {
			drainedOK++
		}
	}
	var exitErr error
	select {
	case exitErr = <-p.done:
		p.done <- exitErr // for the cleanup
	case <-time.After(15 * time.Second):
		exitErr = fmt.Errorf("did not exit within 15s")
	}
	ok := reloadOK && drainedOK == 20 && ready == 503 && exitErr == nil
	report("G7", "5 reloads + 1 invalid at 2000 rps, then SIGTERM", fmt.Sprintf("%d of %d failed during reloads; %d/20 in-flight finished; readyz %d; exit %v", res.Failed, res.Sent, drainedOK, ready, exitErr), ok)
	if !ok {
		t.Errorf("failed %d of %d (statuses %v), reloads %d (want 5), rejected %d (want 1), drained %d/20, readyz %d (want 503), exit %v",
			res.Failed, res.Sent, res.Statuses, reloads, rejected, drainedOK, ready, exitErr)
	}
}
