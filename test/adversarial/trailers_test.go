//go:build !race

package adversarial

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// trailerUpload is a chunked upload that declares one trailer and sends,
// after its last chunk, that trailer plus an undeclared one and the fields
// that must never be trailers (RFC 9110 §6.5.1: framing, routing and
// connection control).
func trailerUpload(method string) string {
	return method + " /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n" +
		"5\r\nhello\r\n0\r\n" +
		"X-Checksum: abc123\r\n" +
		"X-Undeclared: sneaky\r\n" +
		"Content-Length: 99\r\n" +
		"Transfer-Encoding: chunked\r\n" +
		"Host: evil.example\r\n" +
		"Connection: close\r\n" +
		"\r\n"
}

// trailerViolations lists what is wrong with the uploads a backend received.
func trailerViolations(reqs []seenRequest) []string {
	if len(reqs) != 1 {
		return []string{fmt.Sprintf("backend received %d requests; want 1", len(reqs))}
	}
	r := reqs[0]
	var v []string
	if string(r.Body) != "hello" {
		v = append(v, fmt.Sprintf("body %q; want \"hello\"", r.Body))
	}
	if r.Host != "app" {
		v = append(v, fmt.Sprintf("Host %q; want \"app\"", r.Host))
	}
	if got := r.Trailer.Get("X-Checksum"); got != "abc123" {
		v = append(v, fmt.Sprintf("declared trailer X-Checksum %q; want \"abc123\"", got))
	}
	for _, k := range []string{"X-Undeclared", "Content-Length", "Transfer-Encoding", "Host", "Connection"} {
		if vs, ok := r.Trailer[k]; ok {
			v = append(v, fmt.Sprintf("trailer %s: %q reached the backend", k, vs))
		}
	}
	return v
}

func TestTrailers(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"POST", "PUT"} {
		// A POST body is streamed to the upstream; a PUT body that fits the
		// replay buffer is read in full first, for retries.
		t.Run(strings.ToLower(method), func(t *testing.T) {
			t.Parallel()
			backend, refBackend := okBackend(t), okBackend(t)
			h := startHoldfast(t, minimal, map[string]string{"A": backend.URL()})
			ref := reference(t, refBackend.URL())

			resp, body, err := roundTrip(h.addr, trailerUpload(method), method, 3*time.Second)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("chunked %s with trailers: %s %v %q; want 200", method, statusOf(resp), err, body)
			}
			roundTrip(ref, trailerUpload(method), method, 3*time.Second)
			if rv := trailerViolations(refBackend.requests()); len(rv) > 0 {
				t.Logf("httputil.ReverseProxy: %s", strings.Join(rv, "; "))
			}
			if v := trailerViolations(backend.requests()); len(v) > 0 {
				t.Errorf("what the backend received from holdfast:\n%s", strings.Join(v, "\n"))
			}
		})
	}
}
