//go:build !race

package adversarial

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// h2Settings is an empty HTTP/2 SETTINGS frame (RFC 9113 §6.5).
const h2Settings = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"

// h2Preface is what an HTTP/2 client sends first (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// upgradeBackend switches protocols to whatever a request asks for: it
// echoes WebSocket (and any other protocol's) bytes, and for h2c it answers
// as an HTTP/2 server would, with its SETTINGS. Plain requests get 200
// "plain".
func upgradeBackend(t *testing.T) *rawBackend {
	return newRawBackend(t, func(c *backendConn) {
		for {
			req, err := http.ReadRequest(c.r)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			proto := req.Header.Get("Upgrade")
			switch {
			case strings.EqualFold(proto, "websocket"):
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
					wsAccept(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
				io.Copy(c, c.r)
				return
			case strings.EqualFold(proto, "h2c"):
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"+h2Settings)
				io.Copy(io.Discard, c.r)
				return
			case proto != "":
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+proto+"\r\n\r\n")
				io.Copy(c, c.r)
				return
			}
			if _, err := io.WriteString(c, ok200("plain")); err != nil {
				return
			}
		}
	})
}

// wsAccept is the Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

// wsFrame is a masked client text frame carrying s (RFC 6455 §5.2).
func wsFrame(s string) []byte {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	f := []byte{0x81, 0x80 | byte(len(s)), mask[0], mask[1], mask[2], mask[3]}
	for i := range len(s) {
		f = append(f, s[i]^mask[i%4])
	}
	return f
}

// openWebSocket asks addr for a WebSocket and, on 101, checks that bytes
// come back through it. It returns the connection (open on success) and the
// status.
func openWebSocket(addr string) (*rawClient, int, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, 0, err
	}
	c.send("GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(c.r, &http.Request{Method: http.MethodGet})
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, resp.Body)
		c.Close()
		return nil, resp.StatusCode, nil
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(wsKey) {
		c.Close()
		return nil, resp.StatusCode, fmt.Errorf("Sec-WebSocket-Accept %q; want %q", got, wsAccept(wsKey))
	}
	frame := wsFrame("hello over the socket")
	if err := c.send(string(frame)); err != nil {
		c.Close()
		return nil, resp.StatusCode, err
	}
	echo := make([]byte, len(frame))
	if _, err := io.ReadFull(c.r, echo); err != nil || !bytes.Equal(echo, frame) {
		c.Close()
		return nil, resp.StatusCode, fmt.Errorf("echo through the socket: %q, %v; want the frame back", echo, err)
	}
	return c, resp.StatusCode, nil
}

const websocketConfig = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  app:
    endpoints: [{address: {{.A}}}]
    outlier_detection: {deadline: 100ms, consecutive_deadline_misses: 2, max_ejection_percent: 100}
{{.Upstream}}
routes:
  - name: ws
    upstream: app
    upgrades: [websocket]
`

func TestUpgrades(t *testing.T) {
	t.Parallel()

	// An h2c upgrade spliced through would let the client speak HTTP/2 to
	// the backend past every policy; holdfast speaks h2c upstream only by
	// its own choice (protocol: h2c).
	t.Run("h2c_not_spliced", func(t *testing.T) {
		t.Parallel()
		backend := upgradeBackend(t)
		h := startHoldfast(t, minimal, map[string]string{"A": backend.URL()})
		c := dialRaw(t, h.addr)
		c.send("GET /upgrade-me HTTP/1.1\r\nHost: app\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
		resp, body, err := c.response(http.MethodGet, 3*time.Second)
		switch {
		case err != nil:
			t.Errorf("h2c upgrade request: %v; want an HTTP/1.1 answer", err)
		case resp.StatusCode == http.StatusSwitchingProtocols:
			t.Errorf("h2c upgrade request: 101 Switching Protocols; want the request served (or refused) over HTTP/1.1")
		default:
			t.Logf("h2c upgrade request answered %d %q", resp.StatusCode, body)
		}
		c.send(h2Preface + h2Settings)
		_, extra := c.closedWithin(500 * time.Millisecond)
		if bytes.Contains(extra, []byte(h2Settings)) {
			t.Errorf("the client received the backend's HTTP/2 SETTINGS frame")
		}
		for _, r := range backend.requests() {
			if up := r.Header.Get("Upgrade"); up != "" {
				t.Errorf("the backend received %s %s with Upgrade: %s", r.Method, r.Target, up)
			}
		}
		got := strings.ToLower(string(backend.received()))
		for _, s := range []string{"HTTP2-Settings", h2Preface[:len("PRI * HTTP/2.0")]} {
			if strings.Contains(got, strings.ToLower(s)) {
				t.Errorf("the backend received %q: the client's HTTP/2 reached it", s)
			}
		}
	})

	t.Run("unconfigured_protocol_403", func(t *testing.T) {
		t.Parallel()
		backend := upgradeBackend(t)
		h := startHoldfast(t, websocketConfig, map[string]string{"A": backend.URL(), "Upstream": ""})
		resp, _, err := roundTrip(h.addr, "GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: x-private-tunnel\r\n\r\n", http.MethodGet, 3*time.Second)
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Upgrade: x-private-tunnel on a route with upgrades [websocket]: %s %v; want 403", statusOf(resp), err)
		}
		if n := len(backend.requests()); n != 0 {
			t.Errorf("the backend received %d requests; want none", n)
		}
	})

	t.Run("websocket_works", func(t *testing.T) {
		t.Parallel()
		backend := upgradeBackend(t)
		h := startHoldfast(t, websocketConfig, map[string]string{"A": backend.URL(), "Upstream": ""})
		// The same exchange through the reference proxy proves the test's
		// client and backend speak proper WebSocket.
		if c, status, err := openWebSocket(reference(t, upgradeBackend(t).URL())); err != nil || c == nil {
			t.Fatalf("through httputil.ReverseProxy: status %d, %v; the exchange itself is wrong", status, err)
		} else {
			c.Close()
		}
		c, status, err := openWebSocket(h.addr)
		if err != nil || c == nil {
			t.Fatalf("WebSocket through holdfast: status %d, %v; want 101 and an echo", status, err)
		}
		c.Close()
	})

	// A WebSocket session's length is not a response time: two sessions of
	// 300ms must not count as deadline misses against the endpoint.
	t.Run("sessions_do_not_eject", func(t *testing.T) {
		t.Parallel()
		backend := upgradeBackend(t)
		h := startHoldfast(t, websocketConfig, map[string]string{"A": backend.URL(), "Upstream": ""})
		for i := range 2 {
			c, status, err := openWebSocket(h.addr)
			if err != nil || c == nil {
				t.Fatalf("session %d: status %d, %v; want 101 and an echo", i+1, status, err)
			}
			time.Sleep(300 * time.Millisecond)
			c.Close()
		}
		time.Sleep(100 * time.Millisecond) // let holdfast see both sessions end
		for _, up := range h.status(t).Upstreams {
			for _, e := range up.Endpoints {
				if e.Ejections != 0 || e.Ejected {
					t.Errorf("endpoint %s after two 300ms WebSocket sessions: %d ejections (ejected now: %v); want 0 with a 100ms deadline", e.Address, e.Ejections, e.Ejected)
				}
			}
		}
	})

	t.Run("concurrency_limit", func(t *testing.T) {
		t.Parallel()
		backend := upgradeBackend(t)
		h := startHoldfast(t, websocketConfig, map[string]string{"A": backend.URL(), "Upstream": "    concurrency: {limit: 1, queue: 0}"})
		first, status, err := openWebSocket(h.addr)
		if err != nil || first == nil {
			t.Fatalf("first WebSocket: status %d, %v; want 101 and an echo", status, err)
		}
		second, status, err := openWebSocket(h.addr)
		if second != nil {
			second.Close()
		}
		if err != nil || status != http.StatusServiceUnavailable {
			t.Errorf("second WebSocket while the first is open, concurrency {limit: 1, queue: 0}: status %d, %v; want 503", status, err)
		}
		first.Close()
		// The first session's slot comes back once it ends.
		deadline := time.Now().Add(2 * time.Second)
		for {
			third, status, err := openWebSocket(h.addr)
			if third != nil {
				third.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("WebSocket after the first one closed: status %d, %v; want 101 within 2s", status, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
