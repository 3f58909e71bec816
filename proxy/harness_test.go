package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
	"github.com/holdfast-dev/holdfast/upstream"
)

// The end-to-end tests start the proxy in-process on loopback, in front of
// testkit backends (or small hand-written ones where a test needs a header or
// a trailer testkit does not send), and talk to it with a real http.Client
// over HTTP/1.1 or h2c. They assert what a client sees: statuses, bodies,
// headers, and what reached each backend. Real time is used with generous
// bounds only, never to assert tight timings.

// waitLimit bounds every wait of an end-to-end test, so that a broken proxy
// fails the test instead of hanging it.
const waitLimit = 15 * time.Second

// env is a running proxy and clients for it.
type env struct {
	t     *testing.T
	p     *Proxy
	srv   *Server
	addr  string // host:port of the data plane
	url   string // http://addr
	h1    *http.Client
	h2c   *http.Client
	infos chan RequestInfo
}

// yamlf formats a config. %[N]s verbs refer to backend URLs and other
// strings; tabs are turned into spaces, so that configs may be indented
// with the Go source.
func yamlf(format string, args ...any) string {
	return strings.ReplaceAll(fmt.Sprintf(format, args...), "\t", "  ")
}

// startProxy parses cfg, starts a proxy on 127.0.0.1:0 and returns it with
// its clients. Everything is closed when the test ends.
func startProxy(t *testing.T, cfg string) *env {
	t.Helper()
	if !strings.Contains(cfg, "listen:") {
		cfg = "listen: 127.0.0.1:0\n" + cfg
	}
	c, err := config.Parse([]byte(cfg))
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, cfg)
	}
	e := &env{t: t, infos: make(chan RequestInfo, 4096)}
	p, err := New(c, Options{OnRequest: func(ri RequestInfo) {
		select {
		case e.infos <- ri:
		default:
		}
	}})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	srv, err := NewServer(p, c, nil)
	if err != nil {
		p.Close()
		t.Fatalf("proxy.NewServer: %v", err)
	}
	e.p, e.srv = p, srv
	e.addr = srv.Addrs()[0].String()
	e.url = "http://" + e.addr
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	h1 := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)
	h2 := &http.Transport{DisableCompression: true}
	h2.Protocols = new(http.Protocols)
	h2.Protocols.SetUnencryptedHTTP2(true)
	e.h1 = &http.Client{Transport: h1, Timeout: waitLimit}
	e.h2c = &http.Client{Transport: h2, Timeout: waitLimit}

	t.Cleanup(func() {
		h1.CloseIdleConnections()
		h2.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		p.Close()
	})
	return e
}

// clients returns the HTTP/1.1 and h2c clients by name, for tests that run
// over both.
func (e *env) clients() []struct {
	name string
	c    *http.Client
} {
	return []struct {
		name string
		c    *http.Client
	}{{"http1", e.h1}, {"h2c", e.h2c}}
}

// reply is a response read to its end.
type reply struct {
	status  int
	header  http.Header
	trailer http.Header
	body    string
	proto   int // major version
	err     error
}

// do sends req with c and reads the whole response; a transport error or a
// broken body ends up in reply.err.
func do(c *http.Client, req *http.Request) reply {
	resp, err := c.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, trailer: resp.Trailer, body: string(b), proto: resp.ProtoMajor, err: err}
}

// get sends a GET for path over HTTP/1.1 with the given header pairs.
func (e *env) get(path string, kv ...string) reply {
	e.t.Helper()
	return e.send(e.h1, "GET", path, "", kv...)
}

// send sends a request with an optional body and header pairs.
func (e *env) send(c *http.Client, method, path, body string, kv ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	return do(c, req)
}

// mustOK fails the test unless r is a complete 200.
func mustOK(t *testing.T, r reply) {
	t.Helper()
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("got %d %q (err %v); want 200", r.status, short(r.body), r.err)
	}
}

// short bounds a body quoted in a failure message.
func short(s string) string {
	if len(s) > 200 {
		return s[:200] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

// attempts returns the x-holdfast-attempts header of r.
func (r reply) attempts() string { return r.header.Get(HeaderAttempts) }

// backend returns the X-Backend header of r: which testkit backend answered.
func (r reply) backend() string { return r.header.Get("X-Backend") }

// checkLocal asserts that r is a local reply with status and reason: the
// JSON body {"error", "reason"} and the x-holdfast-reason header.
func checkLocal(t *testing.T, r reply, status int, reason string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("request failed: %v; want a %d %s local reply", r.err, status, reason)
	}
	if r.status != status {
		t.Errorf("status = %d; want %d (body %q)", r.status, status, short(r.body))
	}
	if got := r.header.Get(HeaderReason); got != reason {
		t.Errorf("%s = %q; want %q", HeaderReason, got, reason)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	var lb struct {
		Error  *string `json:"error"`
		Reason *string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(r.body), &lb); err != nil {
		t.Fatalf("body %q is not JSON: %v", short(r.body), err)
	}
	if lb.Error == nil || *lb.Error == "" {
		t.Errorf("body %q has no error message", r.body)
	}
	if lb.Reason == nil || *lb.Reason != reason {
		t.Errorf("body %q: reason; want %q", r.body, reason)
	}
}

// retryAfter returns r's Retry-After in seconds, failing the test when it
// is missing or not a positive integer.
func retryAfter(t *testing.T, r reply) int {
	t.Helper()
	v := r.header.Get("Retry-After")
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 {
		t.Fatalf("Retry-After = %q; want a positive number of seconds", v)
	}
	return n
}

// cluster returns the live upstream called name, for waiting on its
// endpoints' state.
func (e *env) upstream(name string) *upstream.Upstream {
	c := e.p.state.Load().clusters[name]
	if c == nil {
		e.t.Fatalf("no upstream %q", name)
	}
	return c.up
}

// endpoint returns the endpoint of upstream name whose address is addr.
func (e *env) endpoint(name, addr string) *upstream.Endpoint {
	e.t.Helper()
	for _, ep := range e.upstream(name).Endpoints() {
		if ep.Address().String() == addr {
			return ep
		}
	}
	e.t.Fatalf("upstream %s has no endpoint %s", name, addr)
	return nil
}

// waitFor waits until cond holds, re-checking whenever b changes (a
// request or health check arrives) and at least every 10ms, and fails the
// test after waitLimit. It is for state the proxy derives from what it sees
// of b, like health and ejections, which a test cannot observe as an event.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitBackend waits until cond holds for b, failing the test after
// waitLimit.
func waitBackend(t *testing.T, b *testkit.Backend, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	if err := b.Wait(ctx, cond); err != nil {
		t.Fatalf("timed out waiting for %s on %s: %v", what, b.Name(), err)
	}
}

// eps renders backends as a YAML flow list of endpoints.
func eps(bs ...*testkit.Backend) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = "{address: " + b.URL() + "}"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// handlerBackend starts an HTTP/1.1 server (and h2c, when h2c is set) on
// loopback with h, counting requests. It closes with the test.
type handlerBackend struct {
	*httptest.Server
	requests atomic.Int64
}

func startHandler(t *testing.T, h2c bool, h http.HandlerFunc) *handlerBackend {
	t.Helper()
	return startHandlerWith(t, func(s *http.Server) {
		if h2c {
			s.Protocols = new(http.Protocols)
			s.Protocols.SetHTTP1(true)
			s.Protocols.SetUnencryptedHTTP2(true)
		}
	}, h)
}

// startHandlerWith is startHandler with a function that configures the
// server before it starts.
func startHandlerWith(t *testing.T, configure func(*http.Server), h http.HandlerFunc) *handlerBackend {
	t.Helper()
	hb := &handlerBackend{}
	hb.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			hb.requests.Add(1)
		}
		h(w, r)
	}))
	configure(hb.Config)
	hb.Start()
	t.Cleanup(hb.Close)
	return hb
}

// rawConn dials the proxy for tests that speak HTTP/1.1 by hand.
func (e *env) rawConn() net.Conn {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	e.t.Cleanup(func() { c.Close() })
	return c
}
