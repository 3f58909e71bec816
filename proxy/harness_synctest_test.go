package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast/config"
)

// The synctest tests run the proxy's forward, attempt and hedge path inside
// a testing/synctest bubble, where time is virtual and moves only when every
// goroutine waits: each upstream's Dial hook (upstream.Config.Dial) connects
// the real HTTP/1.1 transport over net.Pipe to scripted http.Servers in
// memory, and requests go through Proxy.ServeHTTP. Since nothing takes time
// but what a test scripts, every wait can be asserted exactly.

// memProxy is a proxy in a synctest bubble, in front of in-memory backends.
type memProxy struct {
	t        *testing.T
	p        *Proxy
	start    time.Time // the bubble's time when the proxy was made
	backends map[string]*memBackend

	// mu guards infos and attempts.
	mu       sync.Mutex
	infos    []RequestInfo
	attempts []AttemptInfo
}

// memHandler scripts backend b: it answers the n-th request (0 for the
// first) that reached it.
type memHandler func(b *memBackend, w http.ResponseWriter, r *http.Request, n int)

// newMemProxy builds a proxy from cfg (YAML, as yamlf makes it) whose
// upstreams reach the backends named in handlers: the handler under "a"
// serves endpoint address http://a. It must be called inside a synctest
// bubble; everything is closed when the test ends.
func newMemProxy(t *testing.T, cfg string, handlers map[string]memHandler, opts ...func(*Options)) *memProxy {
	t.Helper()
	c, err := config.Parse([]byte(cfg))
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, cfg)
	}
	m := &memProxy{t: t, start: time.Now(), backends: map[string]*memBackend{}}
	for name, h := range handlers {
		b := newMemBackend(m, name, h)
		m.backends[net.JoinHostPort(name, "80")] = b
		// Backends close after the proxy (cleanups run last first), so that
		// the proxy's pooled connections are closed from its side.
		t.Cleanup(b.shutdown)
	}
	for _, u := range c.Upstreams {
		u.Dial = m.dial
	}
	o := Options{OnRequest: func(ri RequestInfo) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.infos = append(m.infos, ri)
	}, OnAttempt: func(ai AttemptInfo) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.attempts = append(m.attempts, ai)
	}}
	for _, f := range opts {
		f(&o)
	}
	p, err := New(c, o)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	t.Cleanup(p.Close)
	m.p = p
	return m
}

// since returns the time from the proxy's start to now.
func (m *memProxy) since() time.Duration { return time.Since(m.start) }

// dial is every upstream's Dial: a connection to the backend listening on
// addr, or a refusal like TCP's when there is none.
func (m *memProxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	b := m.backends[addr]
	if b == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	return b.connect(ctx)
}

// backend returns the backend of endpoint http://name.
func (m *memProxy) backend(name string) *memBackend {
	return m.backends[net.JoinHostPort(name, "80")]
}

// lastInfo returns what OnRequest heard of the last finished request.
func (m *memProxy) lastInfo() RequestInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.infos) == 0 {
		m.t.Fatal("OnRequest was not called")
	}
	return m.infos[len(m.infos)-1]
}

// attemptInfos returns what OnAttempt heard so far.
func (m *memProxy) attemptInfos() []AttemptInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.attempts)
}

// memResult is a response as the client got it.
type memResult struct {
	status  int
	header  http.Header
	body    []byte
	aborted bool          // the handler broke the response (http.ErrAbortHandler)
	took    time.Duration // virtual time ServeHTTP took
}

// do sends a request through ServeHTTP and returns the response recorded.
func (m *memProxy) do(method, target string, body io.Reader) memResult {
	return m.doWith(httptest.NewRequest(method, target, body))
}

// doWith sends r through ServeHTTP and returns the response recorded.
func (m *memProxy) doWith(r *http.Request) memResult {
	w := httptest.NewRecorder()
	begin := time.Now()
	aborted := func() (aborted bool) {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler {
					panic(v)
				}
				aborted = true
			}
		}()
		m.p.ServeHTTP(w, r)
		return false
	}()
	res := w.Result()
	got, _ := io.ReadAll(res.Body)
	return memResult{status: res.StatusCode, header: res.Header, body: got, aborted: aborted, took: time.Since(begin)}
}

// memBackend is an http.Server on an in-memory listener whose connections
// are net.Pipe ends. It records when each request arrived and when each
// connection the proxy opened to it was closed by the proxy.
type memBackend struct {
	m     *memProxy
	name  string
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	// mu guards arrivals, ended and closed.
	mu       sync.Mutex
	arrivals []time.Duration // since the proxy's start, in order
	ended    []time.Duration // when a request's context ended while its handler waited (see hold)
	closed   []time.Duration // when the proxy closed a connection to the backend
}

func newMemBackend(m *memProxy, name string, h memHandler) *memBackend {
	b := &memBackend{m: m, name: name, conns: make(chan net.Conn), done: make(chan struct{})}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		n := len(b.arrivals)
		b.arrivals = append(b.arrivals, m.since())
		b.mu.Unlock()
		h(b, w, r, n)
	})}
	go b.srv.Serve(b)
	return b
}

// connect hands the server end of a new pipe to the server.
func (b *memBackend) connect(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case b.conns <- server:
		return &memConn{Conn: client, b: b}, nil
	case <-b.done:
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Accept, Close and Addr make the backend its server's net.Listener.
func (b *memBackend) Accept() (net.Conn, error) {
	select {
	case c := <-b.conns:
		return c, nil
	case <-b.done:
		return nil, net.ErrClosed
	}
}

func (b *memBackend) Close() error {
	b.once.Do(func() { close(b.done) })
	return nil
}

func (b *memBackend) Addr() net.Addr { return memAddr(b.name) }

// shutdown closes the server, its listener and its connections.
func (b *memBackend) shutdown() { b.srv.Close() }

// hold waits d before a handler answers, or until the request's context
// ends (the proxy closed the connection), which it records; it reports
// whether the whole wait passed.
func (b *memBackend) hold(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		b.mu.Lock()
		b.ended = append(b.ended, b.m.since())
		b.mu.Unlock()
		return false
	}
}

// record returns copies of the backend's arrivals, ended requests and
// closed connections, once the bubble has settled: a backend hears of a
// request the proxy gave up on after the proxy answered the client.
func (b *memBackend) record() (arrivals, ended, closed []time.Duration) {
	synctest.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), b.arrivals...), append([]time.Duration(nil), b.ended...), append([]time.Duration(nil), b.closed...)
}

type memAddr string

func (a memAddr) Network() string { return "pipe" }
func (a memAddr) String() string  { return string(a) }

// memConn is the proxy's end of a connection to a backend; it records when
// the proxy closes it.
type memConn struct {
	net.Conn
	b    *memBackend
	once sync.Once
}

func (c *memConn) Close() error {
	c.once.Do(func() {
		c.b.mu.Lock()
		c.b.closed = append(c.b.closed, c.b.m.since())
		c.b.mu.Unlock()
	})
	return c.Conn.Close()
}
