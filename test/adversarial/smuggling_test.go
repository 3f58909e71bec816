//go:build !race

package adversarial

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// okBackend answers every request 200 "ok" and records what it received.
func okBackend(t *testing.T) *rawBackend {
	return newRawBackend(t, func(c *backendConn) {
		answer(c, func(*http.Request, []byte) string { return ok200("ok") })
	})
}

// hidden is a request that a front end and a back end reading the same
// bytes with different framing rules would disagree about.
func hidden(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: app\r\n\r\n"
}

// smuggleVector is a byte stream that carries a request inside another
// request's body under some reading of its framing.
type smuggleVector struct {
	name string
	raw  func(smuggled string) string
}

var smuggleVectors = []smuggleVector{
	{"Content-Length then Transfer-Encoding", func(s string) string {
		body := "0\r\n\r\n" + hidden(s)
		return "POST /front HTTP/1.1\r\nHost: app\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + body
	}},
	{"Transfer-Encoding then Content-Length", func(s string) string {
		chunk := hidden(s)
		body := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(chunk), chunk)
		return "POST /front HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + body
	}},
	{"HTTP/1.0 keep-alive with Transfer-Encoding", func(s string) string {
		// HTTP/1.0 has no chunked coding; a reader that ignores the header
		// sees an empty body and then a second request.
		return "POST /front HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + hidden(s)
	}},
	{"two Transfer-Encoding fields", func(s string) string {
		body := "0\r\n\r\n" + hidden(s)
		return "POST /front HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}},
	{"Transfer-Encoding: chunked, identity", func(s string) string {
		body := "0\r\n\r\n" + hidden(s)
		return "POST /front HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}},
	{"Transfer-Encoding: xchunked", func(s string) string {
		body := "0\r\n\r\n" + hidden(s)
		return "POST /front HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: xchunked\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}},
	{"space before the colon of Transfer-Encoding", func(s string) string {
		body := "0\r\n\r\n" + hidden(s)
		return "POST /front HTTP/1.1\r\nHost: app\r\nTransfer-Encoding : chunked\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}},
	{"two different Content-Length fields", func(s string) string {
		body := hidden(s)
		return "POST /front HTTP/1.1\r\nHost: app\r\nContent-Length: 0\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}},
	{"Content-Length with a sign", func(s string) string {
		body := hidden(s)
		return "POST /front HTTP/1.1\r\nHost: app\r\nContent-Length: +" + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}},
	{"chunk size that overflows 64 bits", func(s string) string {
		return "POST /front HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n" + hidden(s) + "\r\n0\r\n\r\n"
	}},
}

// sendVector writes a vector on a new connection and reads every answer
// until the connection closes or goes quiet.
func sendVector(addr, raw string) (statuses []int, closed bool) {
	c, err := dial(addr)
	if err != nil {
		return nil, false
	}
	defer c.Close()
	if err := c.send(raw); err != nil {
		return nil, false
	}
	for range 3 {
		resp, _, err := c.response(http.MethodPost, 500*time.Millisecond)
		if err != nil {
			return statuses, !isTimeout(err)
		}
		statuses = append(statuses, resp.StatusCode)
	}
	return statuses, false
}

// smuggledSeen reports whether any request the backend parsed from its
// bytes has the given path.
func smuggledSeen(b *rawBackend, path string) bool {
	for _, r := range b.requests() {
		if r.Target == path {
			return true
		}
	}
	return false
}

func TestSmuggling(t *testing.T) {
	t.Parallel()
	backend := okBackend(t)
	h := startHoldfast(t, minimal, map[string]string{"A": backend.URL()})
	refBackend := okBackend(t)
	ref := reference(t, refBackend.URL())

	// RFC 9112 §6.1: a message with both fields may be an attack; a server
	// that does not reject it must close the connection after answering.
	t.Run("content_length_and_transfer_encoding", func(t *testing.T) {
		for i, v := range smuggleVectors[:2] {
			path := "/smuggled-cl-te-" + strconv.Itoa(i)
			statuses, closed := sendVector(h.addr, v.raw(path))
			if len(statuses) == 0 || statuses[0] != http.StatusBadRequest || len(statuses) > 1 || !closed {
				t.Errorf("%s: answers %v, connection closed %v; want one 400 and the connection closed", v.name, statuses, closed)
			}
			if strings.Contains(string(backend.received()), path) {
				t.Errorf("%s: the backend received bytes of the second request (%s)", v.name, path)
			}
		}
	})

	// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
	// framing.
	t.Run("http10_transfer_encoding", func(t *testing.T) {
		const path = "/front-http10"
		before := len(backend.requests())
		resp, _, err := roundTrip(h.addr, "POST "+path+" HTTP/1.0\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", http.MethodPost, 3*time.Second)
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("HTTP/1.0 POST with Transfer-Encoding: chunked: %s %v; want 400", statusOf(resp), err)
		}
		if smuggledSeen(backend, path) || len(backend.requests()) != before {
			t.Errorf("the backend received the HTTP/1.0 request with Transfer-Encoding; want nothing forwarded")
		}
	})

	// Whatever each proxy makes of the framing, the backend must never parse
	// a request the client sent inside another one.
	t.Run("no_request_the_client_did_not_send", func(t *testing.T) {
		type result struct {
			got, ref []int
		}
		results := make([]result, len(smuggleVectors))
		var wg sync.WaitGroup
		for i, v := range smuggleVectors {
			path := "/smuggled-" + strconv.Itoa(i)
			wg.Go(func() { results[i].got, _ = sendVector(h.addr, v.raw(path)) })
			wg.Go(func() { results[i].ref, _ = sendVector(ref, v.raw(path)) })
		}
		wg.Wait()
		for i, v := range smuggleVectors {
			path := "/smuggled-" + strconv.Itoa(i)
			leaked, refLeaked := smuggledSeen(backend, path), smuggledSeen(refBackend, path)
			t.Logf("%-45s holdfast %v leaked=%v; ReverseProxy %v leaked=%v", v.name, results[i].got, leaked, results[i].ref, refLeaked)
			if leaked {
				t.Errorf("%s: the backend received %s as a request of its own (answers %v; ReverseProxy leaked it: %v)", v.name, path, results[i].got, refLeaked)
			}
		}
	})
}
