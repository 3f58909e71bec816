package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Transport is the HTTP/1.1 client behind [Transport]. Unlike
// http.Transport it runs no goroutine per connection: the calling goroutine
// writes the request and reads the response on a pooled connection, which
// saves two goroutine hand-offs per request. A request body is written by a
// goroutine of its own, so that an endpoint that answers before it has read
// the whole body (413, 401) is heard.
//
// Pooling is where HTTP/1.1 can hand one client another's answer: a
// connection that received anything while idle (a late second response, a
// body after a HEAD or a 304, stray bytes) must never carry a request, or the
// next caller reads those bytes as its response. net/http watches idle
// connections with a reader goroutine; this client looks at the socket when
// it takes a connection from the pool and closes any that is not quiet, and
// closes a connection with bytes left buffered after a response.
type h1Transport struct {
	dialer      net.Dialer
	dialHook    func(ctx context.Context, network, addr string) (net.Conn, error) // Config.Dial; nil to use dialer
	connTimeout time.Duration                                                     // bounds dialHook and its TLS handshake
	tls         *tls.Config                                                       // base config for https:// endpoints; never nil
	maxIdle     int                                                               // idle connections kept per endpoint
	idleTimeout time.Duration
	maxHead     int64 // bytes allowed for a response head, interim answers included

	// mu guards idle and closed.
	mu     sync.Mutex
	idle   map[connKey][]*h1Conn
	closed bool
}

// connKey names the endpoint a pooled connection leads to.
type connKey struct {
	addr string // host:port
	tls  bool
}

func newH1Transport(c Config, base *tls.Config) *h1Transport {
	return &h1Transport{
		dialer:      net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second},
		dialHook:    c.Dial,
		connTimeout: c.ConnectTimeout,
		tls:         base,
		maxIdle:     c.MaxIdlePerEndpoint,
		idleTimeout: c.IdleTimeout,
		maxHead:     int64(c.MaxResponseHeaderBytes),
		idle:        map[connKey][]*h1Conn{},
	}
}

// keyFor returns the pool key of u, with the scheme's default port when u
// names none.
func keyFor(u *url.URL) (connKey, error) {
	k := connKey{addr: u.Host}
	switch u.Scheme {
	case "http":
	case "https":
		k.tls = true
	default:
		return k, errors.New("upstream: unsupported scheme " + u.Scheme)
	}
	if u.Port() == "" {
		port := "80"
		if k.tls {
			port = "443"
		}
		k.addr = net.JoinHostPort(u.Hostname(), port)
	}
	return k, nil
}

// h1Conn is one connection to an endpoint with its buffers.
type h1Conn struct {
	nc   net.Conn
	head headLimit // between nc and br: bounds the response head
	br   *bufio.Reader
	bw   *bufio.Writer
	key  connKey
	// abort unblocks the connection's reads and writes when a request's
	// context ends; made once per connection, not once per request.
	abort  func()
	idleAt time.Time
	// deadline is set while a per-call deadline (roundTripUntil) is on the
	// connection, which put clears.
	deadline bool
	// peek looks into the socket under nc (under TLS too), for peerClosed;
	// nil when there is none to look at. Made once: SyscallConn allocates.
	peek *peeker
}

func newH1Conn(nc net.Conn, key connKey) *h1Conn {
	c := &h1Conn{nc: nc, key: key}
	c.head.r = nc
	c.br = bufio.NewReaderSize(&c.head, 8<<10)
	c.bw = bufio.NewWriterSize(nc, 8<<10)
	c.abort = func() { nc.SetDeadline(time.Unix(1, 0)) }
	under := nc
	if tc, ok := nc.(*tls.Conn); ok {
		under = tc.NetConn()
	}
	if sc, ok := under.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.peek = newPeeker(rc)
		}
	}
	return c
}

func (c *h1Conn) close() { c.nc.Close() }

// headLimit passes reads through, failing them once more than n bytes were
// read while on is set.
type headLimit struct {
	r  io.Reader
	n  int64
	on bool
}

func (l *headLimit) Read(p []byte) (int, error) {
	if !l.on {
		return l.r.Read(p)
	}
	if l.n <= 0 {
		return 0, ErrResponseHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// RoundTrip sends req on a pooled connection, or a new one. The caller must
// close the response body; reading it to the end returns the connection to
// the pool. A 101 answer to a request that asked to upgrade has a body that
// is also an io.Writer: the connection, now the caller's.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTripUntil(req, time.Time{})
}

// roundTripUntil is RoundTrip bounded by until (none when zero): the
// connection's deadline, so that past it the call fails with ErrTryTimeout
// and reads of the body fail.
func (t *h1Transport) roundTripUntil(req *http.Request, until time.Time) (*http.Response, error) {
	key, err := keyFor(req.URL)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if err := validHeader(req); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	for try := 0; ; try++ {
		c, reused, err := t.get(ctx, key, req.URL.Hostname())
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, gotBytes, err := t.roundTrip(c, req, until)
		if err == nil {
			return resp, nil
		}
		c.close()
		var be *RequestBodyError
		if errors.As(err, &be) {
			return nil, err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if !until.IsZero() && !time.Now().Before(until) {
			return nil, ErrTryTimeout
		}
		// A reused keep-alive connection that the endpoint closed just as it
		// was taken fails before any response byte; resending is safe when
		// the body can be sent again (RFC 9112 §9.3.1 lets a client retry).
		if reused && try == 0 && !gotBytes && replayable(req) {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
			continue
		}
		return nil, &ResetError{Err: err}
	}
}

// closeBody closes req's body, as a RoundTripper must on every path.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// replayable reports whether req may be sent a second time: its body can be
// rebuilt, and it is idempotent or carries an Idempotency-Key, because an
// endpoint may have acted on a request even when it closed the connection
// without answering.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	// The same rule as holdfasthttp.Idempotent, which upstream, held to
	// the standard library like the policy packages, cannot import.
	switch req.Method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}

// maxInterim bounds the 1xx answers skipped before a response.
const maxInterim = 8

// roundTrip writes req on c and reads the response head. gotBytes reports
// whether any response byte arrived, after which resending is not safe.
func (t *h1Transport) roundTrip(c *h1Conn, req *http.Request, until time.Time) (resp *http.Response, gotBytes bool, err error) {
	// A route deadline of WithDeadline that nothing armed is kept on the
	// connection with the per-try one, and only its parent is watched.
	watch := req.Context()
	if parent, d, ok := unarmed(watch); ok {
		watch = parent
		if until.IsZero() || d.Before(until) {
			until = d
		}
	}
	if !until.IsZero() {
		// Before the abort is armed: an abort that runs must not be
		// overwritten by this deadline.
		c.nc.SetDeadline(until)
		c.deadline = true
	}
	stop := context.AfterFunc(watch, c.abort)
	hasBody := req.Body != nil && req.Body != http.NoBody
	w, err := writeHead(c.bw, req)
	if err != nil {
		stop()
		closeBody(req)
		return nil, false, err
	}
	var wr *bodyWrite
	if w.body {
		// Full duplex: the body goes out from its own goroutine while this
		// one waits for the answer, which may come first.
		wr = &bodyWrite{done: make(chan struct{})}
		go wr.run(c, req, w)
	} else {
		if hasBody {
			closeBody(req) // a body the head does not announce is not sent
		}
		if err := c.bw.Flush(); err != nil {
			stop()
			return nil, false, err
		}
	}
	fail := func(gotBytes bool, err error) (*http.Response, bool, error) {
		stop()
		if wr != nil {
			c.close() // unblocks a write the endpoint no longer reads
			if berr := wr.bodyErr(); berr != nil {
				return nil, gotBytes, berr
			}
		}
		return nil, gotBytes, err
	}
	c.head.n, c.head.on = t.maxHead, true
	if _, err := c.br.Peek(1); err != nil {
		return fail(false, err)
	}
	for interim := 0; ; interim++ {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(true, err)
		}
		// Interim answers (100 Continue, 103 Early Hints) precede the
		// response and are not it (RFC 9110 §15.2): skip a few of them.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if interim == maxInterim {
			return fail(true, errors.New("upstream: too many interim responses"))
		}
	}
	c.head.on = false
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if req.Header.Get("Upgrade") == "" || wr != nil {
			resp.Body.Close()
			return fail(true, errors.New("upstream: unexpected 101 Switching Protocols"))
		}
		// The connection is the caller's now; stop keeps it alive until
		// the caller closes it or the request's context ends.
		resp.Body = &upgraded{c: c, stop: stop}
		return resp, true, nil
	}
	resp.Body = &h1Body{rc: resp.Body, c: c, t: t, stop: stop, wr: wr, req: req,
		reuse: !resp.Close && !req.Close}
	return resp, true, nil
}

// bodyWrite is a request body being written by its own goroutine.
type bodyWrite struct {
	done chan struct{} // closed when run returns
	err  error         // set before done closes
}

func (b *bodyWrite) run(c *h1Conn, req *http.Request, w head) {
	err := writeBody(c.bw, req, w)
	req.Body.Close() // a RoundTripper closes the request body, sent or not
	b.err = err
	close(b.done)
	var be *RequestBodyError
	if errors.As(err, &be) {
		// The client's body failed: the endpoint would wait for the rest
		// forever, so stop waiting for its answer. done is closed first,
		// so the reader that wakes up finds the cause.
		c.abort()
	}
}

// finished reports whether the body was written, without waiting.
func (b *bodyWrite) finished() (done bool, err error) {
	select {
	case <-b.done:
		return true, b.err
	default:
		return false, nil
	}
}

// bodyErr returns the client's fault, if the write ended with one.
func (b *bodyWrite) bodyErr() error {
	if done, err := b.finished(); done {
		var be *RequestBodyError
		if errors.As(err, &be) {
			return err
		}
	}
	return nil
}

// h1Body returns the connection to the pool once the body is read to its end
// and the request body was sent in full.
type h1Body struct {
	rc    io.ReadCloser
	c     *h1Conn
	t     *h1Transport
	stop  func() bool
	wr    *bodyWrite // nil without a request body
	req   *http.Request
	reuse bool

	once sync.Once
	eof  atomic.Bool // read by release, which Close may run from another goroutine
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
		b.release()
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.release()
	return nil
}

func (b *h1Body) release() {
	b.once.Do(func() {
		fired := !b.stop()
		sent := true
		if b.wr != nil {
			done, err := b.wr.finished()
			sent = done && err == nil
			if !done {
				// The endpoint answered before it took the whole body:
				// the connection cannot be reused, and closing it ends
				// the write.
				b.c.close()
				b.req.Body.Close()
				return
			}
		}
		if b.eof.Load() && b.reuse && sent && !fired {
			b.t.put(b.c)
			return
		}
		b.c.close()
	})
}

// upgraded is the body of a 101 answer: the connection itself.
type upgraded struct {
	c    *h1Conn
	stop func() bool
	once sync.Once
}

func (u *upgraded) Read(p []byte) (int, error)  { return u.c.br.Read(p) }
func (u *upgraded) Write(p []byte) (int, error) { return u.c.nc.Write(p) }

// CloseWrite half-closes the connection, when it can be.
func (u *upgraded) CloseWrite() error {
	if cw, ok := u.c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return u.Close()
}

func (u *upgraded) Close() error {
	u.once.Do(func() {
		u.stop()
		u.c.close()
	})
	return nil
}

// get takes a quiet pooled connection to key, or dials one.
func (t *h1Transport) get(ctx context.Context, key connKey, host string) (*h1Conn, bool, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, false, errTransportClosed
	}
	now := time.Now()
	for conns := t.idle[key]; len(conns) > 0; conns = t.idle[key] {
		c := conns[len(conns)-1]
		t.idle[key] = conns[:len(conns)-1]
		if t.idleTimeout > 0 && now.Sub(c.idleAt) > t.idleTimeout {
			c.close()
			continue
		}
		t.mu.Unlock()
		// Anything that arrived while the connection sat idle, or its
		// close, disqualifies it: those bytes answer no request of ours.
		if peerClosed(c.peek) {
			c.close()
			t.mu.Lock()
			continue
		}
		return c, true, nil
	}
	t.mu.Unlock()
	nc, err := t.dial(ctx, key, host)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, &ConnectError{Err: err}
	}
	return newH1Conn(nc, key), false, nil
}

// dial opens a connection to key, with a TLS handshake for https.
func (t *h1Transport) dial(ctx context.Context, key connKey, host string) (net.Conn, error) {
	if t.dialHook != nil {
		return t.dialWithHook(ctx, key, host)
	}
	if !key.tls {
		return t.dialer.DialContext(ctx, "tcp", key.addr)
	}
	d := tls.Dialer{NetDialer: &t.dialer, Config: t.tlsConfig(host)}
	return d.DialContext(ctx, "tcp", key.addr)
}

// tlsConfig returns the TLS config for an endpoint on host.
func (t *h1Transport) tlsConfig(host string) *tls.Config {
	cfg := t.tls
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	return cfg
}

// dialWithHook opens a connection to key with [Config].Dial, bounded by the
// connect timeout as a net.Dialer's dial is, TLS handshake included (as
// tls.Dialer bounds it).
func (t *h1Transport) dialWithHook(ctx context.Context, key connKey, host string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.connTimeout)
	defer cancel()
	nc, err := t.dialHook(ctx, "tcp", key.addr)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, err
	}
	if nc == nil {
		return nil, errNoConn
	}
	if !key.tls {
		return nc, nil
	}
	tc := tls.Client(nc, t.tlsConfig(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

var errNoConn = errors.New("upstream: Config.Dial returned neither a connection nor an error")

// put pools c. A per-call deadline is cleared; abort's needs no reset, as a
// connection whose abort ran is closed, never put.
func (t *h1Transport) put(c *h1Conn) {
	if c.br.Buffered() > 0 {
		c.close() // bytes after the response: the endpoint broke framing
		return
	}
	if c.deadline {
		c.nc.SetDeadline(time.Time{})
		c.deadline = false
	}
	c.idleAt = time.Now()
	t.mu.Lock()
	if t.closed || len(t.idle[c.key]) >= t.maxIdle {
		t.mu.Unlock()
		c.close()
		return
	}
	t.idle[c.key] = append(t.idle[c.key], c)
	t.mu.Unlock()
}

// CloseIdleConnections closes every pooled connection.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[connKey][]*h1Conn{}
	t.mu.Unlock()
	for _, conns := range idle {
		for _, c := range conns {
			c.close()
		}
	}
}

// Close closes the idle connections and stops pooling; it is idempotent.
func (t *h1Transport) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.CloseIdleConnections()
}
