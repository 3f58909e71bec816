package proxy

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// TestRateLimit checks the route rate limit for each key kind: requests
// past the burst get a 429 local reply with a Retry-After, and never reach
// the backend.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
upstreams:
	u: {endpoints: %s}
routes:
	- name: by-ip
		match: {path: /ip}
		upstream: u
		rate_limit: {requests_per_second: 0.01, burst: 2, key: ip}
	- name: by-user
		match: {path: /user}
		upstream: u
		rate_limit: {requests_per_second: 0.01, burst: 2, key: header:X-User-Id}
	- name: by-route
		match: {path: /route}
		upstream: u
		rate_limit: {requests_per_second: 0.01, burst: 2}
`, eps(b)))
	limited := func(r reply) {
		t.Helper()
		checkLocal(t, r, http.StatusTooManyRequests, ReasonRateLimited)
		// One token every 100s: the wait is at most that.
		if s := retryAfter(t, r); s > 100 {
			t.Errorf("Retry-After = %d; want at most 100", s)
		}
	}

	// ip: both clients come from 127.0.0.1 and share a bucket.
	mustOK(t, e.send(e.h1, "GET", "/ip", ""))
	mustOK(t, e.send(e.h2c, "GET", "/ip", ""))
	limited(e.send(e.h1, "GET", "/ip", ""))
	limited(e.send(e.h2c, "GET", "/ip", "", "X-User-Id", "other"))

	// header: each user has a bucket of their own.
	for range 2 {
		mustOK(t, e.get("/user", "X-User-Id", "alice"))
	}
	limited(e.get("/user", "X-User-Id", "alice"))
	mustOK(t, e.get("/user", "X-User-Id", "bob"))

	// route: one bucket whoever asks.
	mustOK(t, e.get("/route", "X-User-Id", "alice"))
	mustOK(t, e.get("/route", "X-User-Id", "bob"))
	limited(e.get("/route", "X-User-Id", "carol"))

	if got := b.Requests(); got != 7 {
		t.Errorf("backend got %d requests; want the 7 allowed", got)
	}
}

// TestCircuitBreaker checks the per-upstream breaker: after enough failures
// it opens and answers 503 breaker_open with a Retry-After without calling
// the backend; after open_duration it lets a probe through and closes again
// once the backend has recovered.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	b.Fail(500)
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
		circuit_breaker: {failure_rate: 0.5, minimum_requests: 4, window: 10s, open_duration: 2s, half_open_requests: 1}
routes:
	- name: all
		upstream: u
`, eps(b)))
	for range 4 {
		if r := e.get("/"); r.status != 500 {
			t.Fatalf("status %d; want the backend's 500", r.status)
		}
	}
	for _, c := range e.clients() {
		r := e.send(c.c, "GET", "/", "")
		checkLocal(t, r, http.StatusServiceUnavailable, ReasonBreakerOpen)
		if s := retryAfter(t, r); s > 2 {
			t.Errorf("Retry-After = %d; want at most the 2s open_duration", s)
		}
	}
	if got := b.Requests(); got != 4 {
		t.Errorf("backend got %d requests; want 4: none while open", got)
	}

	b.Healthy()
	waitFor(t, "the breaker to close", func() bool {
		r := e.get("/")
		if r.status != 200 && r.header.Get(HeaderReason) != ReasonBreakerOpen {
			t.Fatalf("status %d reason %q while recovering; want 200 or breaker_open", r.status, r.header.Get(HeaderReason))
		}
		return r.status == 200
	})
	for range 5 {
		mustOK(t, e.get("/"))
	}
}

// TestConcurrencyLimit checks the per-upstream concurrency limits: a fixed
// limit with no queue sheds at once, one with a queue makes a request wait
// for a slot and sheds it when the wait passes queue_timeout, and an
// adaptive limit sheds past its limit.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, concurrency string }{
		{"fixed", "{limit: 1}"},
		{"fixed with queue", "{limit: 1, queue: 1, queue_timeout: 300ms}"},
		{"adaptive", "{adaptive: {min: 1, max: 1, initial: 1}}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := testkit.Start(t, testkit.Config{})
			e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		concurrency: %s
routes:
	- name: all
		upstream: u
`, eps(b), tt.concurrency))
			b.Hang()
			ctx, cancel := context.WithCancel(t.Context())
			first := make(chan reply, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/hang", nil)
				first <- do(e.h1, req)
			}()
			waitBackend(t, b, "the first request", func() bool { return b.InFlight() == 1 })

			for _, c := range e.clients() {
				start := time.Now()
				r := e.send(c.c, "GET", "/", "")
				checkLocal(t, r, http.StatusServiceUnavailable, ReasonOverloaded)
				if tt.name == "fixed with queue" && time.Since(start) < 300*time.Millisecond {
					t.Errorf("%s: shed after %v; want a wait of the 300ms queue_timeout first", c.name, time.Since(start))
				}
			}
			if got := b.Requests(); got != 1 {
				t.Errorf("backend got %d requests; want only the first", got)
			}

			// When the first request ends, the slot is free again.
			b.Healthy()
			if tt.name == "fixed with queue" {
				// A request queued behind the hanging one gets its slot
				// when that one ends.
				queued := make(chan reply, 1)
				go func() { queued <- e.get("/") }()
				bh := e.p.state.Load().clusters["u"].bulkhead
				waitFor(t, "a queued request", func() bool { return bh.Queued() == 1 })
				cancel()
				mustOK(t, <-queued)
			} else {
				cancel()
			}
			<-first
			waitFor(t, "the slot to be released", func() bool { return e.get("/").status == 200 })
		})
	}
}

// TestFallback checks route fallbacks: the canned answer replaces exactly
// the failures listed in fallback.on, and is marked as a fallback.
func TestFallback(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: %s
		outlier_detection: {disabled: true}
routes:
	- name: on-all
		match: {path: /all}
		upstream: u
		timeout: 300ms
		fallback: {status: 200, body: '{"items":[]}', headers: {content-type: application/json}}
	- name: on-timeout
		match: {path: /timeout}
		upstream: u
		timeout: 300ms
		fallback: {status: 203, body: 'stale', on: [timeout]}
`, eps(b)))
	fallback := func(r reply, status int, body, reason string) {
		t.Helper()
		if r.err != nil || r.status != status || r.body != body {
			t.Errorf("got %d %q (%v); want the fallback %d %q", r.status, r.body, r.err, status, body)
		}
		if got := r.header.Get("X-Holdfast-Fallback"); got != "true" {
			t.Errorf("X-Holdfast-Fallback = %q; want true", got)
		}
		if got := r.header.Get(HeaderReason); got != reason {
			t.Errorf("%s = %q; want %q", HeaderReason, got, reason)
		}
	}
	for _, tt := range []struct {
		fault  func()
		reason string
	}{
		{func() { b.Fail(500) }, "5xx"},
		{func() { b.Fail(503) }, "5xx"},
		{b.Hang, ReasonTimeout},
		{b.ResetConnections, ReasonUpstreamReset},
		{b.Refuse, ReasonNoHealthyUpstream},
	} {
		if err := b.Restart(); err != nil {
			t.Fatal(err)
		}
		tt.fault()
		fallback(e.get("/all"), 200, `{"items":[]}`, tt.reason)
		r := e.get("/timeout")
		if tt.reason == ReasonTimeout {
			fallback(r, 203, "stale", ReasonTimeout)
			continue
		}
		if r.header.Get("X-Holdfast-Fallback") != "" || r.status < 500 {
			t.Errorf("%s on a route with fallback on [timeout]: got %d %q; want the failure itself", tt.reason, r.status, r.body)
		}
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	b.Healthy()
	r := e.get("/all")
	mustOK(t, r)
	if r.body != "backend" || r.header.Get("X-Holdfast-Fallback") != "" {
		t.Errorf("healthy: got %q fallback=%q; want the backend's answer", r.body, r.header.Get("X-Holdfast-Fallback"))
	}
}

// TestLocalReplies checks the local replies not covered elsewhere: no
// healthy upstream, an upstream reset, an invalid request.
func TestLocalReplies(t *testing.T) {
	t.Parallel()
	down := testkit.Start(t, testkit.Config{Name: "down"})
	down2 := testkit.Start(t, testkit.Config{Name: "down2"})
	resets := testkit.Start(t, testkit.Config{Name: "resets"})
	down.Refuse()
	down2.Refuse()
	resets.ResetConnections()
	e := startProxy(t, yamlf(`
upstreams:
	down: {endpoints: %s}
	resets: {endpoints: %s}
routes:
	- name: down
		match: {path: /down}
		upstream: down
		retry: {attempts: 2}
	- name: resets
		match: {path: /resets}
		upstream: resets
`, eps(down, down2), eps(resets)))
	for _, c := range e.clients() {
		r := e.send(c.c, "GET", "/down", "")
		checkLocal(t, r, http.StatusServiceUnavailable, ReasonNoHealthyUpstream)
		if r.attempts() != "2" {
			t.Errorf("%s: attempts %q; want 2, one per endpoint", c.name, r.attempts())
		}
		r = e.send(c.c, "GET", "/resets", "")
		checkLocal(t, r, http.StatusBadGateway, ReasonUpstreamReset)
	}

	conn := e.rawConn()
	conn.Write([]byte("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	checkLocal(t, reply{status: resp.StatusCode, header: resp.Header, body: string(body), err: err}, http.StatusMethodNotAllowed, ReasonInvalidRequest)
}
