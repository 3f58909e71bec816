package proxy

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// TestCancellation checks that a client that goes away cancels its
// upstream request: the backend sees its request end, and the proxy's
// count of requests in flight to the endpoint drops back to zero.
func TestCancellation(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{H2C: true})
	b.Hang()
	for _, protocol := range []string{"http1", "h2c"} {
		t.Run("upstream "+protocol, func(t *testing.T) {
			e := startProxy(t, yamlf(`
upstreams:
	u:
		protocol: %s
		endpoints: %s
routes:
	- name: all
		upstream: u
`, protocol, eps(b)))
			ep := e.endpoint("u", b.URL())
			for _, c := range e.clients() {
				for _, method := range []string{"GET", "POST"} {
					ctx, cancel := context.WithCancel(t.Context())
					done := make(chan reply, 1)
					go func() {
						req, _ := http.NewRequestWithContext(ctx, method, e.url+"/hang", nil)
						done <- do(c.c, req)
					}()
					waitBackend(t, b, "the request to arrive", func() bool { return b.InFlight() == 1 })
					cancel()
					if r := <-done; r.err == nil {
						t.Errorf("%s %s: got %d after cancelling; want an error", c.name, method, r.status)
					}
					waitBackend(t, b, "the upstream request to be cancelled", func() bool { return b.InFlight() == 0 })
					waitFor(t, "the endpoint's in-flight count to drop", func() bool { return ep.InFlight() == 0 })
				}
			}
		})
	}
}

// TestMisbehavingBackends checks what a client sees from each kind of
// broken backend, over both client and upstream protocols.
func TestMisbehavingBackends(t *testing.T) {
	t.Parallel()
	b := testkit.Start(t, testkit.Config{Name: "b", H2C: true})
	for _, protocol := range []string{"http1", "h2c"} {
		t.Run("upstream "+protocol, func(t *testing.T) {
			e := startProxy(t, yamlf(`
upstreams:
	u:
		protocol: %s
		endpoints: %s
		outlier_detection: {disabled: true}
routes:
	- name: all
		upstream: u
		timeout: 1s
		retry: {attempts: 2}
`, protocol, eps(b)))
			for _, c := range e.clients() {
				// Closing in the middle of the body: the client must see a
				// broken response, never a complete-looking truncated one.
				b.CloseMidBody()
				r := e.send(c.c, "GET", "/", "")
				if r.err == nil {
					t.Errorf("%s: close mid-body: got a complete %d with %d bytes; want a broken body", c.name, r.status, len(r.body))
				}

				// Resets: retried once (GET), then a 502.
				b.ResetCounters()
				b.ResetConnections()
				r = e.send(c.c, "GET", "/", "")
				checkLocal(t, r, http.StatusBadGateway, ReasonUpstreamReset)
				if r.attempts() != "2" {
					t.Errorf("%s: reset: attempts %q; want 2", c.name, r.attempts())
				}

				// Hang: the route timeout answers.
				b.Hang()
				r = e.send(c.c, "GET", "/", "")
				checkLocal(t, r, http.StatusGatewayTimeout, ReasonTimeout)

				// Slow but within the timeout: answered.
				b.Slow(100 * time.Millisecond)
				start := time.Now()
				r = e.send(c.c, "GET", "/", "")
				mustOK(t, r)
				if took := time.Since(start); took < 100*time.Millisecond {
					t.Errorf("%s: slow answer after %v; want at least 100ms", c.name, took)
				}

				// A failure status passes through; a failure that goes away
				// is retried.
				b.Fail(500)
				if r = e.send(c.c, "GET", "/", ""); r.status != 500 || r.attempts() != "1" {
					t.Errorf("%s: fail(500): %d after %s attempts; want 500 after 1", c.name, r.status, r.attempts())
				}
				b.FailN(1, 503)
				if r = e.send(c.c, "GET", "/", ""); r.status != 200 || r.attempts() != "2" {
					t.Errorf("%s: fail_n(1, 503): %d after %s attempts; want 200 after 2", c.name, r.status, r.attempts())
				}
				b.Healthy()
				mustOK(t, e.send(c.c, "GET", "/", ""))
			}
		})
	}
}

// TestUpstreamClosedIdleConnection checks that a keep-alive connection the
// upstream closed while it sat idle in the pool does not fail the next
// request, not even one that may not be sent twice.
func TestUpstreamClosedIdleConnection(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 16)
	b := startHandlerWith(t, func(s *http.Server) {
		s.IdleTimeout = 50 * time.Millisecond
		s.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				closed <- struct{}{}
			}
		}
	}, echoHandler)
	e := startProxy(t, yamlf(`
upstreams:
	u: {endpoints: [{address: %s}]}
routes:
	- name: all
		upstream: u
`, b.URL))
	for i := range 3 {
		for _, method := range []string{"GET", "POST"} {
			r := e.send(e.h1, method, "/", "body")
			if r.err != nil || r.status != 200 || r.body != "body" {
				t.Fatalf("round %d %s: %d %q (%v); want 200 echoing the body", i, method, r.status, r.body, r.err)
			}
			select {
			case <-closed: // the upstream closed the idle connection
			case <-time.After(waitLimit):
				t.Fatal("the upstream never closed its idle connection")
			}
		}
	}
}
