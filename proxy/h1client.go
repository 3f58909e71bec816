package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// h1Transport is a lean HTTP/1.1 client for upstream calls. Unlike
// http.Transport it runs no goroutines per connection: the calling goroutine
// writes the request and reads the response on a pooled connection, which
// saves two goroutine hand-offs per request. It implements http.RoundTripper
// and is safe for concurrent use.
type h1Transport struct {
	dialer      net.Dialer
	maxIdle     int           // idle connections kept per host
	idleTimeout time.Duration // an idle connection older than this is closed

	// mu guards idle and closed.
	mu     sync.Mutex
	idle   map[string][]*h1Conn
	closed bool
}

var _ http.RoundTripper = (*h1Transport)(nil)

func newH1Transport(connectTimeout time.Duration, maxIdle int, idleTimeout time.Duration) *h1Transport {
	return &h1Transport{
		dialer:      net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second},
		maxIdle:     maxIdle,
		idleTimeout: idleTimeout,
		idle:        map[string][]*h1Conn{},
	}
}

type h1Conn struct {
	net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	key    string
	idleAt time.Time
	// abort unblocks the connection's reads and writes when a request's
	// context ends; made once per connection, not once per request.
	abort func()
}

func newH1Conn(nc net.Conn, key string) *h1Conn {
	c := &h1Conn{Conn: nc, br: bufio.NewReaderSize(nc, 8<<10), bw: bufio.NewWriterSize(nc, 8<<10), key: key}
	c.abort = func() { c.Conn.SetDeadline(time.Unix(1, 0)) }
	return c
}

// ConnectError is a failure to open a connection to an upstream endpoint:
// nothing was sent, so any request may be retried after it.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "proxy: connect: " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// ResetError is a connection that broke after the request was (maybe) sent
// and before a complete response head arrived.
type ResetError struct{ Err error }

func (e *ResetError) Error() string { return "proxy: upstream reset: " + e.Err.Error() }
func (e *ResetError) Unwrap() error { return e.Err }

var errTransportClosed = errors.New("proxy: transport closed")

// RoundTrip sends req on a pooled connection. The caller must close the
// response body; reading it to the end returns the connection to the pool.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.URL.Host
	resendable := replayable(req)
	for try := 0; ; try++ {
		c, reused, err := t.get(req.Context(), key)
		// A request that cannot be resent below must not meet a pooled
		// connection the upstream has closed meanwhile; check, at the cost
		// of a syscall. Resendable ones skip the check: they are resent.
		for err == nil && reused && !resendable && peerClosed(c.Conn) {
			c.Close()
			c, reused, err = t.get(req.Context(), key)
		}
		if err != nil {
			return nil, err
		}
		resp, err, wrote := t.roundTrip(c, req)
		if err == nil {
			return resp, nil
		}
		c.Close()
		// A reused keep-alive connection that the server had already closed
		// fails before any response byte; resending is safe when the body
		// can be sent again (RFC 9112 §9.3.1 lets a client retry then).
		if reused && try == 0 && !wrote && req.Context().Err() == nil && replayable(req) {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
			continue
		}
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &ResetError{Err: err}
	}
}

// replayable reports whether req may be sent a second time: its body can be
// rebuilt, and it is idempotent or carries an Idempotency-Key, because a
// server may have acted on a request even when it closed the connection
// without answering.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	return isIdempotent(req)
}

// roundTrip writes req and reads the response head. wrote reports whether
// any response byte was read, after which resending is not safe.
func (t *h1Transport) roundTrip(c *h1Conn, req *http.Request) (resp *http.Response, err error, gotBytes bool) {
	stop := context.AfterFunc(req.Context(), c.abort)
	if err := writeRequest(c.bw, req); err != nil {
		stop()
		return nil, err, false
	}
	if _, err := c.br.Peek(1); err != nil {
		stop()
		return nil, err, false
	}
	resp, err = http.ReadResponse(c.br, req)
	// Interim answers (100 Continue to a forwarded Expect, 103 Early Hints)
	// precede the response and are not it (RFC 9110 §15.2): skip them.
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(c.br, req)
	}
	if err != nil {
		stop()
		return nil, err, true
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		resp.Body.Close()
		return nil, errors.New("unexpected 101 Switching Protocols"), true
	}
	resp.Body = &h1Body{rc: resp.Body, c: c, t: t, stop: stop, reuse: !resp.Close && !req.Close}
	return resp, nil, true
}

func writeRequest(bw *bufio.Writer, req *http.Request) error {
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	writeRequestTarget(bw, req.URL)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range req.Header {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	chunked := false
	switch {
	case req.ContentLength > 0 || (req.ContentLength == 0 && hasBody && req.Method != "GET" && req.Method != "HEAD"):
		if req.ContentLength > 0 {
			bw.WriteString("Content-Length: ")
			bw.WriteString(strconv.FormatInt(req.ContentLength, 10))
			bw.WriteString("\r\n")
		} else {
			bw.WriteString("Content-Length: 0\r\n")
			hasBody = false
		}
	case req.ContentLength < 0 && hasBody:
		chunked = true
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH":
		bw.WriteString("Content-Length: 0\r\n")
		hasBody = false
	default:
		hasBody = false
	}
	if len(req.Trailer) > 0 && chunked {
		for k := range req.Trailer {
			bw.WriteString("Trailer: ")
			bw.WriteString(k)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	if hasBody && req.GetBody == nil {
		// A streamed body may be slow to come: let the upstream see the
		// request head now, as a client that sends it alone would.
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if hasBody {
		var w io.Writer = bw
		var cw io.WriteCloser
		if chunked {
			cw = httputil.NewChunkedWriter(bw)
			w = cw
		}
		// Flush after every piece the body yields, so that a streamed body
		// reaches the upstream as the client sends it instead of waiting in
		// bw until 8 KiB have piled up.
		w = flushWriter{w: w, bw: bw}
		var err error
		if req.ContentLength > 0 && !chunked {
			var n int64
			n, err = io.Copy(w, io.LimitReader(req.Body, req.ContentLength))
			if err == nil && n < req.ContentLength {
				err = io.ErrUnexpectedEOF
			}
		} else {
			_, err = io.Copy(w, req.Body)
		}
		if err != nil {
			return err
		}
		if chunked {
			cw.Close()
			for k, vs := range req.Trailer {
				for _, v := range vs {
					bw.WriteString(k + ": " + v + "\r\n")
				}
			}
			bw.WriteString("\r\n")
		}
	}
	return bw.Flush()
}

// writeRequestTarget writes u.RequestURI() without building the string.
func writeRequestTarget(bw *bufio.Writer, u *url.URL) {
	if u.Opaque != "" {
		bw.WriteString(u.RequestURI())
		return
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	bw.WriteString(p)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
}

// flushWriter writes to w and then flushes bw, the buffer under w.
type flushWriter struct {
	w  io.Writer
	bw *bufio.Writer
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.bw.Flush()
	}
	return n, err
}

// h1Body returns the connection to the pool once the body is read to its end.
type h1Body struct {
	rc    io.ReadCloser
	c     *h1Conn
	t     *h1Transport
	stop  func() bool
	reuse bool

	once sync.Once
	eof  bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
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
		if b.eof && b.reuse && !fired {
			b.t.put(b.c)
			return
		}
		b.c.Close()
	})
}

func (t *h1Transport) get(ctx context.Context, key string) (*h1Conn, bool, error) {
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
			c.Close()
			continue
		}
		t.mu.Unlock()
		return c, true, nil
	}
	t.mu.Unlock()
	nc, err := t.dialer.DialContext(ctx, "tcp", key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, &ConnectError{Err: err}
	}
	return newH1Conn(nc, key), false, nil
}

// put pools c. Its deadline needs no reset: only abort sets one, and a
// connection whose abort ran is closed, never put.
func (t *h1Transport) put(c *h1Conn) {
	if c.br.Buffered() > 0 {
		c.Close() // bytes after the response: the server broke framing
		return
	}
	c.idleAt = time.Now()
	t.mu.Lock()
	if t.closed || len(t.idle[c.key]) >= t.maxIdle {
		t.mu.Unlock()
		c.Close()
		return
	}
	t.idle[c.key] = append(t.idle[c.key], c)
	t.mu.Unlock()
}

// CloseIdleConnections closes every pooled connection.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	t.mu.Unlock()
	for _, conns := range idle {
		for _, c := range conns {
			c.Close()
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
