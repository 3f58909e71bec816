//go:build !race

package adversarial

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const clientFaultsConfig = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
limits: {max_body_bytes: 1024}
upstreams:
  app:
    endpoints: [{address: {{.A}}}, {address: {{.B}}}]
    circuit_breaker: {failure_rate: 0.5, minimum_requests: 20, window: 10s}
    outlier_detection: {consecutive_failures: 5, max_ejection_percent: 100}
routes:
  - name: upload
    upstream: app
    timeout: 5s
`

// clientFault is one way a client breaks its own request.
type clientFault struct {
	name string
	// send writes the request on c; it reports whether the client stays to
	// read the answer.
	send func(c *rawClient) (reads bool)
	// want are the acceptable statuses; closed says the connection may end
	// without one (the client itself walked away mid-upload).
	want   []int
	closed bool
}

var clientFaults = []clientFault{
	{
		name: "POST with a malformed chunk size",
		send: func(c *rawClient) bool {
			c.send("POST /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
			return true
		},
		want: []int{http.StatusBadRequest},
	},
	{
		name: "POST with chunk data longer than its size",
		send: func(c *rawClient) bool {
			c.send("POST /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello, world\r\n0\r\n\r\n")
			return true
		},
		want: []int{http.StatusBadRequest},
	},
	{
		name: "PUT with a malformed chunk size",
		send: func(c *rawClient) bool {
			c.send("PUT /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n1g\r\nhello\r\n0\r\n\r\n")
			return true
		},
		want: []int{http.StatusBadRequest},
	},
	{
		name: "declared Content-Length over max_body_bytes",
		send: func(c *rawClient) bool {
			c.send("POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 2048\r\n\r\n" + strings.Repeat("x", 2048))
			return true
		},
		want: []int{http.StatusRequestEntityTooLarge},
	},
	{
		name: "chunked POST over max_body_bytes",
		send: func(c *rawClient) bool {
			chunk := "3e8\r\n" + strings.Repeat("y", 1000) + "\r\n"
			c.send("POST /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + chunk + "0\r\n\r\n")
			return true
		},
		want: []int{http.StatusRequestEntityTooLarge},
	},
	{
		name: "chunked PUT over max_body_bytes",
		send: func(c *rawClient) bool {
			chunk := "3e8\r\n" + strings.Repeat("y", 1000) + "\r\n"
			c.send("PUT /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + "0\r\n\r\n")
			return true
		},
		want: []int{http.StatusRequestEntityTooLarge},
	},
	{
		name: "POST aborted mid-upload (half-close)",
		send: func(c *rawClient) bool {
			c.send("POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("z", 300))
			time.Sleep(2 * time.Millisecond)
			c.Conn.(*net.TCPConn).CloseWrite()
			return true
		},
		want:   []int{http.StatusBadRequest},
		closed: true,
	},
	{
		name: "chunked POST aborted mid-upload (reset)",
		send: func(c *rawClient) bool {
			c.send("POST /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + strings.Repeat("z", 100) + "\r\n")
			time.Sleep(2 * time.Millisecond)
			c.Conn.(*net.TCPConn).SetLinger(0)
			c.Close()
			return false
		},
		closed: true,
	},
}

// TestClientFaultsNeverBlameUpstream: 1,000 requests that are broken by
// their clients must each get a client error, and leave the upstream's
// circuit breaker closed and its endpoints in service.
func TestClientFaultsNeverBlameUpstream(t *testing.T) {
	t.Parallel()
	healthy := func(c *backendConn) {
		answer(c, func(req *http.Request, body []byte) string { return ok200("stored") })
	}
	a, b := newRawBackend(t, healthy), newRawBackend(t, healthy)
	h := startHoldfast(t, clientFaultsConfig, map[string]string{"A": a.URL(), "B": b.URL()})

	const total = 1000
	var (
		mu  sync.Mutex
		bad = map[string]int{} // "fault: what the client saw" -> count
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				f := clientFaults[i%len(clientFaults)]
				seen := runClientFault(h.addr, f)
				if seen != "" {
					mu.Lock()
					bad[f.name+": "+seen]++
					mu.Unlock()
				}
			}
		})
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(bad) > 0 {
		var lines []string
		for k, n := range bad {
			lines = append(lines, fmt.Sprintf("%4d× %s", n, k))
		}
		sort.Strings(lines)
		t.Errorf("client faults that did not get a client error:\n%s", strings.Join(lines, "\n"))
	}

	s := h.status(t)
	if len(s.Upstreams) != 1 {
		t.Fatalf("GET /status lists %d upstreams; want 1", len(s.Upstreams))
	}
	up := s.Upstreams[0]
	if up.Breaker == nil {
		t.Fatal("GET /status shows no circuit breaker on upstream app")
	}
	if up.Breaker.State != "closed" || up.Breaker.Trips != 0 {
		t.Errorf("breaker after %d client faults: state %q, %d trips; want closed, 0 trips", total, up.Breaker.State, up.Breaker.Trips)
	}
	if up.Breaker.Failures != 0 {
		t.Errorf("breaker counted %d of %d calls as upstream failures; want 0: every fault was the client's", up.Breaker.Failures, up.Breaker.Calls)
	}
	var ejections int64
	for _, e := range up.Endpoints {
		ejections += e.Ejections
	}
	if ejections != 0 || up.Ejected != 0 || up.EjectionsRefused != 0 {
		t.Errorf("outlier detection after %d client faults: %d ejections (%d ejected now, %d refused); want 0", total, ejections, up.Ejected, up.EjectionsRefused)
	}

	resp, body, err := roundTrip(h.addr, "POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhello", http.MethodPost, 3*time.Second)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "stored" {
		t.Errorf("a normal upload afterwards: %v %v %q; want 200 \"stored\"", statusOf(resp), err, body)
	}
}

// runClientFault sends one broken request and returns "" when the client
// saw what it should, or a description of what it saw instead.
func runClientFault(addr string, f clientFault) string {
	c, err := dial(addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	if !f.send(c) {
		return ""
	}
	resp, _, err := c.response(http.MethodPost, 5*time.Second)
	if err != nil {
		if f.closed && !isTimeout(err) {
			return "" // the connection ended without an answer: fine for a client that walked away
		}
		return "no answer: " + err.Error()
	}
	for _, s := range f.want {
		if resp.StatusCode == s {
			return ""
		}
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("X-Holdfast-Reason"))
}

func statusOf(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}
