//go:build !race

package adversarial

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoResponse is a backend's real answer to the request carrying id: the
// id in a header and as the body.
func echoResponse(id string) string {
	return "HTTP/1.1 200 OK\r\nX-Echo-Id: " + id + "\r\nContent-Length: " + strconv.Itoa(len(id)) + "\r\n\r\n" + id
}

// mixupCase is a backend that writes bytes on a pooled keep-alive connection
// while it is idle, after its answer to a trigger request.
type mixupCase struct {
	name string
	// trigger reports whether request i is the kind after which the backend
	// misbehaves, and builds it.
	trigger func(i int, id string) (raw, method string, status int, ok bool)
	// reply is the backend's answer to req and the bytes it sends once the
	// connection has gone idle.
	reply func(req *http.Request) (answer, stray string)
}

var mixupCases = []mixupCase{
	{
		name: "late_second_response",
		reply: func(req *http.Request) (string, string) {
			id := req.Header.Get("X-Id")
			return echoResponse(id), echoResponse(id) // the same answer, again
		},
	},
	{
		name: "body_after_head",
		trigger: func(i int, id string) (string, string, int, bool) {
			return "HEAD /mix HTTP/1.1\r\nHost: backend\r\nX-Id: " + id + "\r\n\r\n", http.MethodHead, http.StatusOK, i%2 == 0
		},
		reply: func(req *http.Request) (string, string) {
			id := req.Header.Get("X-Id")
			if req.Method != http.MethodHead {
				return echoResponse(id), ""
			}
			// A body of exactly Content-Length bytes after a HEAD answer,
			// shaped like an answer of its own.
			body := echoResponse(id)
			return "HTTP/1.1 200 OK\r\nX-Echo-Id: " + id + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n", body
		},
	},
	{
		name: "body_after_304",
		trigger: func(i int, id string) (string, string, int, bool) {
			return "GET /mix HTTP/1.1\r\nHost: backend\r\nIf-None-Match: \"v1\"\r\nX-Id: " + id + "\r\n\r\n", http.MethodGet, http.StatusNotModified, i%2 == 0
		},
		reply: func(req *http.Request) (string, string) {
			id := req.Header.Get("X-Id")
			if req.Header.Get("If-None-Match") == "" {
				return echoResponse(id), ""
			}
			body := echoResponse(id)
			return "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-Echo-Id: " + id + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n", body
		},
	},
	{
		name: "stray_junk",
		reply: func(req *http.Request) (string, string) {
			return echoResponse(req.Header.Get("X-Id")), "\x00\x17\x03junk that is no HTTP at all\r\n\r\n"
		},
	},
}

// mixupBackend runs c's backend: after each answer with stray bytes, it
// waits until the proxy has certainly pooled the connection, sends them,
// and reports on written that it has.
func mixupBackend(t *testing.T, c mixupCase, written chan<- struct{}) *rawBackend {
	return newRawBackend(t, func(bc *backendConn) {
		for {
			req, err := http.ReadRequest(bc.r)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			ans, stray := c.reply(req)
			if _, err := io.WriteString(bc, ans); err != nil {
				return
			}
			if stray == "" {
				continue
			}
			if !bc.sleep(20 * time.Millisecond) {
				return
			}
			_, err = io.WriteString(bc, stray)
			select {
			case written <- struct{}{}:
			default: // nobody is waiting for that many
			}
			if err != nil {
				return
			}
		}
	})
}

// mixupResult counts what 24 clients saw.
type mixupResult struct {
	foreign, failed int
	notes           []string
}

// runMixup sends 24 sequential requests, each from its own client
// connection and with its own id, through the proxy at addr. Before each
// next request it waits until the backend has sent its stray bytes on the
// idle connection, so that they are there before the request, as no proxy
// could tell them from an answer otherwise.
func runMixup(addr string, c mixupCase, written <-chan struct{}) mixupResult {
	var res mixupResult
	ids := map[string]bool{}
	for i := range 24 {
		ids[fmt.Sprintf("%s-%02d", c.name, i)] = true
	}
	for i := range 24 {
		id := fmt.Sprintf("%s-%02d", c.name, i)
		raw, method, want := "GET /mix HTTP/1.1\r\nHost: backend\r\nX-Id: "+id+"\r\n\r\n", http.MethodGet, http.StatusOK
		strays := c.trigger == nil // these backends misbehave after every answer
		if c.trigger != nil {
			if r, m, s, ok := c.trigger(i, id); ok {
				raw, method, want, strays = r, m, s, true
			}
		}
		resp, body, err := roundTrip(addr, raw, method, 3*time.Second)
		switch {
		case err != nil:
			res.failed++
			res.notes = append(res.notes, fmt.Sprintf("%s: %v", id, err))
		case resp.Header.Get("X-Echo-Id") != id && ids[resp.Header.Get("X-Echo-Id")],
			method == http.MethodGet && want == http.StatusOK && string(body) != id && ids[string(body)]:
			res.foreign++
			res.notes = append(res.notes, fmt.Sprintf("%s got the answer of %s (%d, body %q)", id, resp.Header.Get("X-Echo-Id"), resp.StatusCode, body))
		case resp.StatusCode != want || resp.Header.Get("X-Echo-Id") != id || (want == http.StatusOK && method == http.MethodGet && string(body) != id):
			res.failed++
			res.notes = append(res.notes, fmt.Sprintf("%s: got %d %q (X-Echo-Id %q); want %d with its own id", id, resp.StatusCode, truncate(body, 80), resp.Header.Get("X-Echo-Id"), want))
		}
		if strays {
			select {
			case <-written:
			case <-time.After(time.Second): // the request never reached the backend
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	return res
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// TestCrossClientMixup: a backend that speaks out of turn on an idle pooled
// connection must not make one client receive another's answer, nor make an
// innocent client fail.
func TestCrossClientMixup(t *testing.T) {
	t.Parallel()
	for _, c := range mixupCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// One attempt per request: a retry would hide a desync from a
			// GET, but a POST gets no retry.
			written, refWritten := make(chan struct{}, 48), make(chan struct{}, 48)
			h := startHoldfast(t, minimal+"    retry: {attempts: 1}\n", map[string]string{"A": mixupBackend(t, c, written).URL()})
			ref := reference(t, mixupBackend(t, c, refWritten).URL())

			done := make(chan mixupResult, 1)
			go func() { done <- runMixup(ref, c, refWritten) }()
			got := runMixup(h.addr, c, written)
			base := <-done

			t.Logf("httputil.ReverseProxy: %d foreign answers, %d failures", base.foreign, base.failed)
			if got.foreign != 0 || got.failed != 0 {
				t.Errorf("holdfast: %d of 24 clients got another request's answer, %d innocent failures; want 0 and 0 (ReverseProxy: %d and %d)\n%s",
					got.foreign, got.failed, base.foreign, base.failed, strings.Join(got.notes, "\n"))
			}
		})
	}
}
