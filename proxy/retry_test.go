package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// TestRetryOn checks each retry_on condition end to end. The upstream has a
// faulty endpoint at priority 0, which every first attempt goes to, and a
// good one at priority 1, which a retry goes to because it prefers an
// endpoint not tried yet. So a retried request is answered by "good" after
// two attempts, and one that is not retried gets the faulty answer.
func TestRetryOn(t *testing.T) {
	t.Parallel()
	bad := testkit.Start(t, testkit.Config{Name: "bad"})
	good := testkit.Start(t, testkit.Config{Name: "good"})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}, {address: %s, priority: 1}]
		outlier_detection: {disabled: true}
routes:
	- name: default
		match: {path: /default}
		upstream: u
	- name: connect
		match: {path: /connect}
		upstream: u
		retry: {retry_on: [connect_failure]}
	- name: reset
		match: {path: /reset}
		upstream: u
		retry: {retry_on: [reset]}
	- name: gateway
		match: {path: /gateway}
		upstream: u
		retry: {retry_on: [gateway_error], per_try_timeout: 300ms}
	- name: any5xx
		match: {path: /5xx}
		upstream: u
		retry: {retry_on: [5xx]}
	- name: statuses
		match: {path: /status}
		upstream: u
		retry: {retry_on: [retriable_status], retriable_statuses: [409, 429]}
	- name: once
		match: {path: /once}
		upstream: u
		retry: {attempts: 1}
`, bad.URL(), good.URL()))

	const retried = "retried"
	tests := []struct {
		path     string
		method   string
		key      string // Idempotency-Key
		fault    func()
		want     int    // status when not retried
		reason   string // local reply reason when not retried, if any
		attempts string
	}{
		{"/default", "GET", "", func() { bad.Fail(503) }, 0, retried, "2"},
		{"/default", "GET", "", func() { bad.Fail(502) }, 0, retried, "2"},
		{"/default", "GET", "", func() { bad.Fail(504) }, 0, retried, "2"},
		{"/default", "GET", "", func() { bad.Fail(500) }, 500, "", "1"},
		{"/default", "GET", "", func() { bad.Fail(429) }, 429, "", "1"},
		{"/default", "GET", "", bad.ResetConnections, 0, retried, "2"},
		{"/default", "GET", "", bad.Refuse, 0, retried, "2"},
		{"/default", "PUT", "", func() { bad.Fail(503) }, 0, retried, "2"},
		{"/default", "DELETE", "", func() { bad.Fail(503) }, 0, retried, "2"},
		{"/default", "POST", "", func() { bad.Fail(503) }, 503, "", "1"},
		{"/default", "PATCH", "", func() { bad.Fail(503) }, 503, "", "1"},
		{"/default", "POST", "", bad.ResetConnections, 502, ReasonUpstreamReset, "1"},
		{"/default", "POST", "key-1", func() { bad.Fail(503) }, 0, retried, "2"},
		{"/default", "POST", "key-2", bad.ResetConnections, 0, retried, "2"},
		{"/connect", "GET", "", bad.Refuse, 0, retried, "2"},
		{"/connect", "GET", "", func() { bad.Fail(503) }, 503, "", "1"},
		{"/connect", "GET", "", bad.ResetConnections, 502, ReasonUpstreamReset, "1"},
		{"/reset", "GET", "", bad.ResetConnections, 0, retried, "2"},
		{"/reset", "GET", "", bad.Refuse, 0, retried, "2"},
		{"/reset", "GET", "", func() { bad.Fail(502) }, 502, "", "1"},
		{"/gateway", "GET", "", bad.Hang, 0, retried, "2"},
		{"/gateway", "GET", "", func() { bad.Fail(500) }, 500, "", "1"},
		{"/5xx", "GET", "", func() { bad.Fail(500) }, 0, retried, "2"},
		{"/5xx", "GET", "", func() { bad.Fail(501) }, 0, retried, "2"},
		{"/5xx", "GET", "", bad.ResetConnections, 0, retried, "2"},
		{"/5xx", "GET", "", func() { bad.Fail(409) }, 409, "", "1"},
		{"/status", "GET", "", func() { bad.Fail(409) }, 0, retried, "2"},
		{"/status", "GET", "", func() { bad.Fail(429) }, 0, retried, "2"},
		{"/status", "GET", "", func() { bad.Fail(503) }, 503, "", "1"},
		{"/once", "GET", "", func() { bad.Fail(503) }, 503, "", "1"},
	}
	for i, tt := range tests {
		name := fmt.Sprintf("%d %s %s %s", i, tt.method, tt.path, tt.key)
		if err := bad.Restart(); err != nil {
			t.Fatal(err)
		}
		tt.fault()
		name += " " + bad.Behavior()
		kv := []string{"X-Request-Id", fmt.Sprintf("req-%d", i)}
		if tt.key != "" {
			kv = []string{"Idempotency-Key", tt.key}
		}
		r := e.send(e.h1, tt.method, tt.path, "", kv...)
		if r.err != nil {
			t.Errorf("%s: %v", name, r.err)
			continue
		}
		if got := r.attempts(); got != tt.attempts {
			t.Errorf("%s: %s = %q; want %s", name, HeaderAttempts, got, tt.attempts)
		}
		switch {
		case tt.reason == retried:
			if r.status != 200 || r.backend() != "good" {
				t.Errorf("%s: %d from %q; want 200 from good after a retry", name, r.status, r.backend())
			}
		case tt.reason != "":
			checkLocal(t, r, tt.want, tt.reason)
		default:
			if r.status != tt.want || r.backend() != "bad" {
				t.Errorf("%s: %d from %q; want %d passed through from bad", name, r.status, r.backend(), tt.want)
			}
		}
		if !bad.Listening() {
			continue
		}
		// A request that is not retried reached the backend once. (The
		// HTTP/1.1 client may resend an idempotent request on a fresh
		// connection when a reused one breaks before any answer, as
		// net/http does, so a reset GET can arrive twice.)
		resent := bad.Behavior() == "reset" && holdfasthttp.Idempotent(&http.Request{Method: tt.method, Header: http.Header{}})
		if key := kv[1]; tt.attempts == "1" && !resent && bad.Deliveries(key) != 1 {
			t.Errorf("%s: bad got %s %d times; want once", name, key, bad.Deliveries(key))
		}
	}
}

// TestRetryPrefersAnotherEndpoint checks that a retry goes to an endpoint
// the request has not tried: with one of two endpoints failing every
// request, every request succeeds with two attempts at most.
func TestRetryPrefersAnotherEndpoint(t *testing.T) {
	t.Parallel()
	bad := testkit.Start(t, testkit.Config{Name: "bad"})
	good := testkit.Start(t, testkit.Config{Name: "good"})
	bad.Fail(503)
	for _, balancer := range []string{"p2c_ewma", "round_robin", "least_request", "random"} {
		t.Run(balancer, func(t *testing.T) {
			bad.ResetCounters()
			good.ResetCounters()
			e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		balancer: %s
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
		retry: {attempts: 2}
`, eps(bad, good), balancer))
			const n = 40
			for range n {
				mustOK(t, e.get("/"))
			}
			if got := good.Requests(); got != n {
				t.Errorf("good got %d requests; want %d, one per request", got, n)
			}
			// p2c_ewma learns to avoid the failing endpoint, so it may never
			// pick it first; the others must have.
			if got := bad.Requests(); got > n || got == 0 && balancer != "p2c_ewma" {
				t.Errorf("bad got %d requests; want 1 to %d", got, n)
			}
		})
	}
}

// TestRetryBackoff checks that retries wait: two retries with backoff base
// 200ms and no jitter take at least 200ms + 400ms.
func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
		retry: {attempts: 3, backoff: {base: 200ms, max: 1s, jitter: none}}
`, eps(b)))
	b.FailN(2, 503)
	start := time.Now()
	r := e.get("/")
	took := time.Since(start)
	mustOK(t, r)
	if r.attempts() != "3" {
		t.Errorf("attempts %q; want 3", r.attempts())
	}
	if took < 600*time.Millisecond {
		t.Errorf("took %v; want at least 600ms of backoff", took)
	}
}

// retryAfterBackend answers its first request of each test with 503 and
// the given Retry-After, and every other one with 200.
func retryAfterBackend(t *testing.T, retryAfter *atomic.Value) *handlerBackend {
	var calls atomic.Int64
	return startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 || r.Header.Get("X-Fail") == "always" {
			w.Header().Set("Retry-After", retryAfter.Load().(string))
			http.Error(w, "come back later", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	})
}

// TestRetryAfterHonoured checks that a 503 with Retry-After is retried no
// sooner than asked, and not at all when the wait is longer than
// max_retry_after or the route timeout; then the 503 passes through with
// its Retry-After.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	t.Run("waits", func(t *testing.T) {
		t.Parallel()
		var ra atomic.Value
		ra.Store("1")
		b := retryAfterBackend(t, &ra)
		e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
		retry: {attempts: 2, backoff: {base: 1ms, max: 1ms}}
`, b.URL))
		start := time.Now()
		r := e.get("/")
		took := time.Since(start)
		mustOK(t, r)
		if took < time.Second {
			t.Errorf("took %v; want at least the 1s the upstream asked for", took)
		}
		if got := b.requests.Load(); got != 2 {
			t.Errorf("backend got %d requests; want 2", got)
		}
	})
	for _, tt := range []struct{ name, retryAfter, extra string }{
		{"longer than max_retry_after", "120", ""},
		{"longer than max_retry_after as a date", "", ""},
		{"past the route timeout", "5", "timeout: 2s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ra atomic.Value
			if tt.retryAfter == "" {
				tt.retryAfter = time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
			}
			ra.Store(tt.retryAfter)
			b := retryAfterBackend(t, &ra)
			e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
		%s
		retry: {attempts: 3, max_retry_after: 10s, backoff: {base: 1ms, max: 1ms}}
`, b.URL, tt.extra))
			start := time.Now()
			r := e.get("/")
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v; want an answer without waiting for the Retry-After", took)
			}
			if r.status != 503 || r.header.Get("Retry-After") != tt.retryAfter || !strings.Contains(r.body, "come back later") {
				t.Errorf("got %d Retry-After %q %q; want the upstream's 503 with Retry-After %q", r.status, r.header.Get("Retry-After"), r.body, tt.retryAfter)
			}
			if got := b.requests.Load(); got != 1 {
				t.Errorf("backend got %d requests; want 1", got)
			}
		})
	}
}

// TestRetryBudget checks that the retry budget caps retries against an
// upstream that fails everything: of a route's own budget, and of the
// upstream's shared one for routes without their own.
func TestRetryBudget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, upstreamBudget, routeBudget string }{
		{"route budget", "", "budget: {ratio: 0.1, min_per_second: 0.1, window: 10s},"},
		{"upstream budget", "retry_budget: {ratio: 0.1, min_per_second: 0.1, window: 10s}", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := testkit.Start(t, testkit.Config{})
			b.Fail(503)
			e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
		%s
routes:
	- name: all
		upstream: u
		retry: {attempts: 3, %s backoff: {base: 1ms, max: 1ms}}
`, eps(b), tt.upstreamBudget, tt.routeBudget))
			const n = 30
			retried := 0
			for range n {
				r := e.get("/")
				if r.status != 503 {
					t.Fatalf("status %d; want 503", r.status)
				}
				if r.attempts() != "1" {
					retried++
				}
			}
			// Without a budget that would be 60 retries. The budget allows
			// 0.1 per request plus 0.1/s over 10s: about 4, and a little
			// more while its window fills.
			if got := b.Requests() - n; got > 8 || got < 1 {
				t.Errorf("%d retries reached the backend (%d requests retried); want 1 to 8", got, retried)
			}
		})
	}
}

// TestRouteTimeout checks that the route timeout bounds the whole request,
// retries included, and ends with a 504 local reply.
func TestRouteTimeout(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	b.Hang()
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
routes:
	- name: plain
		match: {path: /plain}
		upstream: u
		timeout: 300ms
	- name: retries
		match: {path: /retries}
		upstream: u
		timeout: 700ms
		retry: {attempts: 10, per_try_timeout: 200ms, retry_on: [gateway_error], backoff: {base: 1ms, max: 1ms}}
`, eps(b)))
	for _, c := range e.clients() {
		start := time.Now()
		r := e.send(c.c, "GET", "/plain", "")
		checkLocal(t, r, http.StatusGatewayTimeout, ReasonTimeout)
		if r.attempts() != "1" {
			t.Errorf("%s: attempts %q; want 1", c.name, r.attempts())
		}
		if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
			t.Errorf("%s: took %v; want about the 300ms route timeout", c.name, took)
		}

		b.ResetCounters()
		start = time.Now()
		r = e.send(c.c, "GET", "/retries", "")
		checkLocal(t, r, http.StatusGatewayTimeout, ReasonTimeout)
		if took := time.Since(start); took < 700*time.Millisecond || took > 5*time.Second {
			t.Errorf("%s: took %v; want about the 700ms route timeout", c.name, took)
		}
		var n int
		fmt.Sscan(r.attempts(), &n)
		if n < 2 || n > 4 {
			t.Errorf("%s: attempts %q; want 2 to 4 tries of 200ms in 700ms", c.name, r.attempts())
		}
		if got := b.Requests(); got != int64(n) {
			t.Errorf("%s: backend got %d requests; want %d", c.name, got, n)
		}
		// Every attempt was cancelled, none is left hanging.
		waitBackend(t, b, "no request in flight", func() bool { return b.InFlight() == 0 })
	}
}

// TestHedge checks hedging: an idempotent request to a slow endpoint gets
// a second attempt on another endpoint after the hedge delay, the fast
// answer wins and the slow attempt is cancelled; a POST is never hedged.
func TestHedge(t *testing.T) {
	t.Parallel()
	slow := testkit.Start(t, testkit.Config{Name: "slow"})
	fast := testkit.Start(t, testkit.Config{Name: "fast"})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}, {address: %s, priority: 1}]
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
		hedge: {delay: 50ms, max_extra: 1, budget_percent: 100}
`, slow.URL(), fast.URL()))
	slow.Slow(10 * time.Second)
	big := strings.Repeat("0123456789", 100<<10) // 1 MB: read after the hedge is over
	for _, c := range e.clients() {
		for _, body := range []string{"", big} {
			if body == "" {
				fast.Healthy()
			} else {
				fast.Respond(200, body)
			}
			start := time.Now()
			r := e.send(c.c, "GET", "/", "")
			mustOK(t, r)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("%s: took %v; want the fast answer", c.name, took)
			}
			if r.backend() != "fast" || r.attempts() != "2" {
				t.Errorf("%s: answer from %q after %s attempts; want fast after 2", c.name, r.backend(), r.attempts())
			}
			if want := body; want != "" && r.body != want {
				t.Errorf("%s: body of %d bytes; want %d", c.name, len(r.body), len(want))
			}
			waitBackend(t, slow, "the slow attempt cancelled", func() bool { return slow.InFlight() == 0 })
		}
	}

	slow.Slow(200 * time.Millisecond)
	for _, c := range e.clients() {
		r := e.send(c.c, "POST", "/", "data")
		mustOK(t, r)
		if r.backend() != "slow" || r.attempts() != "1" {
			t.Errorf("%s POST: answer from %q after %s attempts; want slow after 1: a POST is not hedged", c.name, r.backend(), r.attempts())
		}
	}
}
