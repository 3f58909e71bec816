package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/holdfast-dev/holdfast/upstream"
)

// The data plane's HTTP/1.1 server. net/http's server costs the proxy a
// goroutine and a failing read per request (its background read), two
// 4 KiB buffers held by every connection for its whole life, idle or not,
// and a head parser that resolves ambiguous framing quietly instead of
// refusing it. This one:
//
//   - parses heads strictly (see h1parse.go) from one buffer, with one
//     string allocation for all of a head's names and values;
//   - holds its 4 KiB read buffer only while a connection is busy, and
//     returns it to a pool once a keep-alive connection has been idle for
//     idleGrace; the write buffer is taken per response;
//   - on Linux, ends an idle connection's goroutine then too, and starts
//     one again when the client sends (h1park_linux.go);
//   - watches for the client going away only when a handler runs past
//     watchAfter with the request body read, not on every request;
//   - hands a connection that opens with the HTTP/2 preface (h2c with prior
//     knowledge) to net/http's HTTP/2 server.
//
// Upgrades (WebSocket) take the connection with Hijack, as with net/http.

const (
	// h1BufSize is the read buffer, and the write buffer, of a connection.
	h1BufSize = 4 << 10
	// idleGrace is how long an idle keep-alive connection keeps its read
	// buffer, so that the next request on a busy connection is read with
	// one system call.
	idleGrace = time.Second
	// watchAfter is how long a handler runs before the server watches the
	// connection for the client leaving.
	watchAfter = 50 * time.Millisecond
	// maxDiscard bounds what the server reads of an error reply's request
	// before closing, so the client sees the reply rather than a reset.
	maxDiscard = 256 << 10
	// defaultMaxHeaderBytes applies when no limit is configured.
	defaultMaxHeaderBytes = 1 << 20
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, h1BufSize); return &b }}

func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:h1BufSize] }
func putBuf(b []byte) {
	if cap(b) == h1BufSize {
		b = b[:h1BufSize]
		bufPool.Put(&b)
	}
}

// h1Limits are the server's bounds on what a client sends.
type h1Limits struct {
	maxHeaderBytes    int
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	idleTimeout       time.Duration
	maxConns          int // client connections open at once; 0: no cap
}

// flushTimeout bounds the write of a response's last bytes: the idle
// timeout, as a client that takes nothing for that long is gone.
func (l *h1Limits) flushTimeout() time.Duration {
	if l.idleTimeout > 0 {
		return l.idleTimeout
	}
	return time.Minute
}

// h1Server serves HTTP/1.x connections to a handler. Its zero value is not
// ready: use newH1Server.
type h1Server struct {
	handler http.Handler
	limits  h1Limits
	logger  *slog.Logger
	h2      *http.Server // h2c with prior knowledge; nil refuses it
	h2ln    *connListener

	mu       sync.Mutex
	conns    map[*h1Conn]struct{}
	closing  atomic.Bool
	draining chan struct{} // closed when the last connection ends after closing

	grace time.Duration // idleGrace, or a test's
	hooks *h1Hooks      // nil but in tests

	accepted atomic.Uint64 // connections accepted
	refused  atomic.Uint64 // connections closed at once, over maxConns
	h2Open   atomic.Int64  // connections handed to the HTTP/2 server, not yet closed

	// The release of memory when quiet (h1quiet.go).
	started   atomic.Uint64 // requests started
	release   func()        // releaseMemory, or a test's
	quietOnce sync.Once     // starts watchQuiet with the first serve
	quit      chan struct{} // closed to stop watchQuiet
	quitOnce  sync.Once
}

func newH1Server(h http.Handler, lim h1Limits, h2 *http.Server, logger *slog.Logger) *h1Server {
	if lim.maxHeaderBytes <= 0 {
		lim.maxHeaderBytes = defaultMaxHeaderBytes
	}
	s := &h1Server{handler: h, limits: lim, logger: logger, h2: h2, conns: make(map[*h1Conn]struct{}),
		grace: idleGrace, release: releaseMemory, quit: make(chan struct{})}
	if h2 != nil {
		// Requests over HTTP/2 count for the quiet release too.
		inner := h2.Handler
		h2.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.started.Add(1)
			inner.ServeHTTP(w, r)
		})
		s.h2ln = newConnListener()
		go h2.Serve(s.h2ln)
	}
	return s
}

// serve accepts connections on ln until it fails or the server closes.
func (s *h1Server) serve(ln net.Listener) error {
	s.quietOnce.Do(func() {
		if !s.closing.Load() {
			go s.watchQuiet()
		}
	})
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors and the like: back off, as
				// net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accepted.Add(1)
		c := &h1Conn{srv: s, nc: nc}
		switch s.track(c) {
		case trackFull:
			s.refused.Add(1)
			nc.Close()
			continue
		case trackClosing:
			nc.Close()
			return http.ErrServerClosed
		}
		go c.serve()
	}
}

// track's answers.
const (
	trackOK = iota
	trackFull
	trackClosing
)

// track adds c to the server's connections, unless the server is closing
// or has maxConns open (those handed to HTTP/2 count too).
func (s *h1Server) track(c *h1Conn) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return trackClosing
	}
	if m := s.limits.maxConns; m > 0 && len(s.conns)+int(s.h2Open.Load()) >= m {
		return trackFull
	}
	s.conns[c] = struct{}{}
	return trackOK
}

func (s *h1Server) untrack(c *h1Conn) {
	s.mu.Lock()
	s.untrackLocked(c)
	s.mu.Unlock()
	if s.hooks != nil && s.hooks.ended != nil {
		s.hooks.ended()
	}
}

func (s *h1Server) untrackLocked(c *h1Conn) {
	delete(s.conns, c)
	if len(s.conns) == 0 && s.draining != nil {
		close(s.draining)
		s.draining = nil
	}
}

// h1Hooks tell a test what the server did.
type h1Hooks struct {
	parked func() // a connection was parked
	ended  func() // a connection's serving ended
}

// shutdown closes idle connections and lets busy ones finish their
// exchange, until ctx ends, when it closes every connection left. The
// listeners are the caller's to close first.
func (s *h1Server) shutdown(ctx context.Context) error {
	s.stopQuiet()
	s.mu.Lock()
	s.closing.Store(true)
	done := make(chan struct{})
	if len(s.conns) == 0 {
		close(done)
	} else {
		s.draining = done
	}
	for c := range s.conns {
		if c.closeIfIdle() {
			s.untrackLocked(c) // parked: no goroutine of its own to do it
		}
	}
	s.mu.Unlock()
	var err error
	if s.h2 != nil {
		err = s.h2.Shutdown(ctx)
	}
	select {
	case <-done:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			if c.forceClose() {
				s.untrackLocked(c)
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// close closes every connection now.
func (s *h1Server) close() {
	s.stopQuiet()
	s.closing.Store(true)
	s.mu.Lock()
	for c := range s.conns {
		if c.forceClose() {
			s.untrackLocked(c)
		}
	}
	s.mu.Unlock()
	if s.h2 != nil {
		s.h2.Close()
	}
}

func (s *h1Server) stopQuiet() { s.quitOnce.Do(func() { close(s.quit) }) }

// ConnStats counts the data plane's client connections.
type ConnStats struct {
	// Accepted is every connection accepted since the server started;
	// Refused those of them closed at once, over limits.max_connections.
	Accepted uint64 `json:"accepted"`
	Refused  uint64 `json:"refused"`
	// Active connections are reading or serving a request; Idle ones wait
	// for the next with a goroutine (for their first second idle), Parked
	// ones without (h1park_linux.go); Upgraded ones carry the protocol a
	// request switched to (WebSocket); HTTP2 ones are served by the HTTP/2
	// server (h2c).
	Active   int `json:"active"`
	Idle     int `json:"idle"`
	Parked   int `json:"parked"`
	Upgraded int `json:"upgraded"`
	HTTP2    int `json:"http2"`
}

// connStats counts the connections by state, at one moment.
func (s *h1Server) connStats() ConnStats {
	st := ConnStats{Accepted: s.accepted.Load(), Refused: s.refused.Load(), HTTP2: int(s.h2Open.Load())}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		switch c.state.Load() {
		case connActive:
			st.Active++
		case connIdle:
			st.Idle++
		case connParked:
			st.Parked++
		case connUpgraded:
			st.Upgraded++
		}
	}
	return st
}

// Connection states, for closing idle connections at shutdown.
const (
	connIdle int32 = iota
	connActive
	connClosed
	connParked   // idle, with no goroutine: the parker's
	connUpgraded // taken over by its handler (a WebSocket, say)
)

// h1Conn is one client connection. Its fields are the serving goroutine's,
// except where a comment says otherwise.
type h1Conn struct {
	srv    *h1Server
	nc     net.Conn
	remote string // the client's address

	buf   []byte // read buffer; nil while idle
	r, w  int    // buf[r:w] is read but not yet consumed
	one   [1]byte
	begun bool // a request was read

	state atomic.Int32 // connIdle, connActive, connClosed, connParked or connUpgraded; changed under stateMu
	// stateMu orders the serving goroutine's idle-to-active step against
	// shutdown's closing of idle connections, and guards parking.
	stateMu sync.Mutex

	// While parked (h1park.go), under stateMu.
	parkedIn  *parker
	parkID    uint64
	parkFD    int
	parkTimer *time.Timer // the idle timeout; nil if none

	// The watch for the client leaving while a handler runs (see
	// startWatch): mu guards everything below it.
	watch     *time.Timer
	mu        sync.Mutex
	inHandler bool
	bodyDone  bool // the request body is read to its end, or there is none
	watching  bool // a watchRead goroutine is running or ran
	stopWatch bool // the serving goroutine is ending the watch
	watchDone chan struct{}
	watchN    int
	watchErr  error
	cancel    context.CancelFunc // the running request's
	hijacked  bool
}

func (c *h1Conn) serve() { c.run(false) }

// resume serves a connection the parker woke.
func (c *h1Conn) resume() { c.run(true) }

func (c *h1Conn) run(woken bool) {
	parked := false
	defer func() {
		if parked {
			return // the parker's now
		}
		if c.buf != nil {
			putBuf(c.buf)
			c.buf = nil
		}
		c.srv.untrack(c)
	}()
	if woken {
		// The client sent, or left; the read deadline set before parking
		// holds.
		if err := c.fill(); err != nil {
			c.close()
			return
		}
	}
	for {
		req, info, herr, err := c.readRequest(!c.begun)
		if err == errParked {
			parked = true
			return
		}
		if err != nil {
			c.close()
			return
		}
		if herr != nil {
			c.refuse(herr)
			return
		}
		if req == nil { // handed to the HTTP/2 server
			return
		}
		c.begun = true
		keep, linger := c.exchange(req, info)
		switch {
		case keep:
		case c.hijacked:
			return
		case linger:
			// The client may still be sending the body nobody read:
			// closing now could reset the connection before it reads
			// the answer.
			c.lingerClose()
			return
		default:
			c.close()
			return
		}
	}
}

func (c *h1Conn) close() {
	c.stateMu.Lock()
	c.state.Store(connClosed)
	c.stateMu.Unlock()
	c.nc.Close()
}

// closeIfIdle closes the connection if it waits for a request, and
// reports whether it was parked (the caller then untracks it). It is
// shutdown's.
func (c *h1Conn) closeIfIdle() (parked bool) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if s := c.state.Load(); s != connIdle && s != connParked {
		return false
	}
	return c.closeLocked()
}

// forceClose closes the connection whatever it is doing, and reports
// whether it was parked (the caller then untracks it).
func (c *h1Conn) forceClose() (parked bool) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.closeLocked()
}

// closeLocked closes the connection, taking it back from the parker
// first if it is parked, and reports whether it was; stateMu is held.
func (c *h1Conn) closeLocked() (parked bool) {
	if parked = c.state.Load() == connParked; parked {
		c.unparkLocked()
	}
	c.state.Store(connClosed)
	c.nc.Close()
	return parked
}

// setActive marks the connection busy; false means shutdown closed it
// first.
func (c *h1Conn) setActive() bool {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.state.Load() == connClosed {
		return false
	}
	c.state.Store(connActive)
	return true
}

func (c *h1Conn) setIdle() bool {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.state.Load() == connClosed || c.srv.closing.Load() {
		return false
	}
	c.state.Store(connIdle)
	return true
}

var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// readRequest reads the next request head. It returns err when the
// connection is over (closed, timed out, or handed to HTTP/2, with a nil
// request and no error), and herr when the head must be refused.
func (c *h1Conn) readRequest(first bool) (*http.Request, headInfo, *headError, error) {
	lim := &c.srv.limits
	if c.r == c.w {
		if !first && !c.setIdle() {
			return nil, headInfo{}, nil, net.ErrClosed
		}
		if err := c.awaitRequest(first); err != nil {
			return nil, headInfo{}, nil, err
		}
	}
	if !c.setActive() {
		return nil, headInfo{}, nil, net.ErrClosed
	}
	start := time.Now()
	var wholeDeadline time.Time
	if lim.readTimeout > 0 {
		wholeDeadline = start.Add(lim.readTimeout)
	}
	hdrDeadline := wholeDeadline
	if lim.readHeaderTimeout > 0 {
		if d := start.Add(lim.readHeaderTimeout); hdrDeadline.IsZero() || d.Before(hdrDeadline) {
			hdrDeadline = d
		}
	}
	c.nc.SetReadDeadline(hdrDeadline)

	maxHead := lim.maxHeaderBytes
	scanned := 0
	for {
		// Empty lines before a request line are skipped (RFC 9112 §2.2).
		for c.w-c.r >= 2 && c.buf[c.r] == '\r' && c.buf[c.r+1] == '\n' {
			c.r += 2
			scanned = 0
		}
		b := c.buf[c.r:c.w]
		if first && len(b) > 0 && b[0] == 'P' {
			n := min(len(b), len(h2Preface))
			if bytes.Equal(b[:n], h2Preface[:n]) {
				if n == len(h2Preface) {
					return nil, headInfo{}, nil, c.handToH2()
				}
				if err := c.fill(); err != nil {
					return nil, headInfo{}, nil, err
				}
				continue
			}
		}
		if end := headEnd(b, scanned); end >= 0 {
			if end > maxHead {
				return nil, headInfo{}, &headError{status: http.StatusRequestHeaderFieldsTooLarge, msg: "the request head is larger than the limit"}, nil
			}
			var req http.Request
			info, herr := parseHead(b[:end], &req)
			c.r += end
			if herr != nil {
				return nil, info, herr, nil
			}
			c.nc.SetReadDeadline(wholeDeadline)
			c.srv.started.Add(1)
			return &req, info, nil, nil
		}
		scanned = len(b)
		if len(b) >= maxHead {
			return nil, headInfo{}, &headError{status: http.StatusRequestHeaderFieldsTooLarge, msg: "the request head is larger than the limit"}, nil
		}
		if c.w == len(c.buf) {
			c.grow(maxHead)
		}
		if err := c.fill(); err != nil {
			if len(b) > 0 && !errors.Is(err, io.EOF) && isTimeout(err) {
				return nil, headInfo{}, &headError{status: http.StatusRequestTimeout, msg: "the request head took too long"}, nil
			}
			return nil, headInfo{}, nil, err
		}
	}
}

// awaitRequest waits for the first bytes of a request with the read
// buffer released once the connection has been idle for the server's
// grace, and the connection parked then if it can be: errParked means the
// goroutine is to end, as the parker has the connection.
func (c *h1Conn) awaitRequest(first bool) error {
	lim := &c.srv.limits
	now := time.Now()
	var deadline time.Time
	switch {
	case first && lim.readHeaderTimeout > 0:
		deadline = now.Add(lim.readHeaderTimeout)
	case !first && lim.idleTimeout > 0:
		deadline = now.Add(lim.idleTimeout)
	}
	grace := now.Add(c.srv.grace)
	if !deadline.IsZero() && deadline.Before(grace) {
		grace = deadline
	}
	c.nc.SetReadDeadline(grace)
	err := c.fill()
	if err == nil || !isTimeout(err) || !grace.Before(deadline) && !deadline.IsZero() {
		return err
	}
	// Idle: give the buffer back and wait for one byte.
	if c.buf != nil {
		putBuf(c.buf)
		c.buf, c.r, c.w = nil, 0, 0
	}
	c.nc.SetReadDeadline(deadline)
	if c.park(deadline) {
		return errParked
	}
	n, err := c.nc.Read(c.one[:])
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	c.buf = getBuf()
	c.buf[0] = c.one[0]
	c.r, c.w = 0, 1
	return nil
}

// fill reads more of the stream into the buffer, which must have room.
func (c *h1Conn) fill() error {
	if c.buf == nil {
		c.buf = getBuf()
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.buf) && c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// grow makes room for a head of up to limit bytes in a buffer of its own.
func (c *h1Conn) grow(limit int) {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
		return
	}
	nb := make([]byte, min(2*len(c.buf), limit+4))
	copy(nb, c.buf[:c.w])
	putBuf(c.buf)
	c.buf = nb
}

// shrink returns a grown buffer to the pool's size when what it holds fits.
func (c *h1Conn) shrink() {
	if c.buf == nil || cap(c.buf) == h1BufSize || c.w-c.r > h1BufSize {
		return
	}
	nb := getBuf()
	c.w = copy(nb, c.buf[c.r:c.w])
	c.r = 0
	c.buf = nb
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handToH2 passes the connection, and what was read of it, to the HTTP/2
// server.
func (c *h1Conn) handToH2() error {
	if c.srv.h2ln == nil {
		return errors.New("h2c is not served")
	}
	pre := bytes.Clone(c.buf[c.r:c.w])
	putBuf(c.buf)
	c.buf, c.r, c.w = nil, 0, 0
	c.nc.SetReadDeadline(time.Time{})
	c.srv.h2Open.Add(1)
	pc := &prefixConn{Conn: c.nc, pre: pre, open: &c.srv.h2Open}
	// Above the server's own bound on a header string (its header list
	// size: maxHeaderBytes and a little), so that the server, not the
	// guard, refuses a long one.
	g := newH2Guard(pc, 2*c.srv.limits.maxHeaderBytes)
	if !c.srv.h2ln.hand(g) {
		g.Close()
	}
	return nil
}

// refuse answers a head that cannot be served and closes the connection.
func (c *h1Conn) refuse(e *headError) {
	if e.silent {
		c.close()
		return
	}
	body := strconv.Itoa(e.status) + " " + http.StatusText(e.status) + ": " + e.msg + "\n"
	var b []byte
	b = append(b, "HTTP/1.1 "...)
	b = append(b, statusLine(e.status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	b = append(b, HeaderReason+": "...)
	switch e.status {
	case http.StatusRequestHeaderFieldsTooLarge:
		b = append(b, ReasonTooManyHeaders...)
	default:
		b = append(b, ReasonInvalidRequest...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write(b)
	c.lingerClose()
}

// lingerClose half-closes the connection and reads what the client still
// sends, for a short while, so that a reply written before the client
// finished its request reaches it instead of a reset.
func (c *h1Conn) lingerClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.CopyN(io.Discard, c.nc, maxDiscard)
	}
	c.close()
}

// exchange serves one request and reports whether the connection can carry
// another, and whether the request's body was left unread (the connection
// then closes gently).
func (c *h1Conn) exchange(req *http.Request, info headInfo) (keep, linger bool) {
	ctx, cancel := context.WithCancel(context.Background())
	req = req.WithContext(ctx)
	if c.remote == "" {
		c.remote = c.nc.RemoteAddr().String()
	}
	req.RemoteAddr = c.remote
	w := &h1Response{c: c, req: req, header: make(http.Header), closeAfter: info.close, clen: -1}
	var body *h1Body
	switch {
	case info.chunked || req.ContentLength > 0:
		body = &h1Body{c: c, w: w, req: req, chunked: info.chunked, remain: req.ContentLength, expect100: info.expect100}
		req.Body = body
		w.body = body
	default:
		req.Body = http.NoBody
	}
	c.mu.Lock()
	c.inHandler, c.bodyDone, c.watching, c.stopWatch, c.cancel = true, body == nil, false, false, cancel
	// Under mu: startWatch, on the timer's goroutine, reads c.watch.
	if c.watch == nil {
		c.watch = time.AfterFunc(watchAfter, c.startWatch)
	} else {
		c.watch.Reset(watchAfter)
	}
	c.mu.Unlock()

	aborted := c.runHandler(w, req)

	c.watch.Stop()
	c.mu.Lock()
	c.inHandler = false
	watching := c.watching
	c.stopWatch = true
	hijacked := c.hijacked
	c.mu.Unlock()
	cancel()
	if hijacked {
		return false, false
	}
	if watching {
		c.nc.SetReadDeadline(aLongTimeAgo)
		<-c.watchDone
		if c.watchN == 1 {
			c.unread(c.one[0])
		} else if c.watchErr != nil && !isTimeout(c.watchErr) {
			aborted = true // the client is gone
		}
	}
	if body != nil && !body.end() {
		w.closeAfter, linger = true, true
	}
	if aborted {
		w.abandon()
		return false, false
	}
	if err := w.finish(); err != nil {
		return false, false
	}
	c.shrink()
	return !w.closeAfter && !c.srv.closing.Load(), linger
}

// aLongTimeAgo is a deadline in the past, which ends a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// runHandler calls the handler and reports whether it panicked (the
// response is then broken, on purpose with http.ErrAbortHandler).
func (c *h1Conn) runHandler(w *h1Response, req *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			aborted = true
			if v != http.ErrAbortHandler && c.srv.logger != nil {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logger.Error("panic serving a request", "remote", req.RemoteAddr, "panic", fmt.Sprint(v), "stack", string(buf))
			}
		}
	}()
	c.srv.handler.ServeHTTP(w, req)
	return false
}

// unread puts back a byte read ahead of the buffer.
func (c *h1Conn) unread(b byte) {
	if c.buf == nil {
		c.buf = getBuf()
	}
	if c.r > 0 {
		c.r--
		c.buf[c.r] = b
		return
	}
	if c.w == len(c.buf) {
		nb := make([]byte, len(c.buf)+1)
		copy(nb[1:], c.buf[:c.w])
		putBuf(c.buf)
		c.buf = nb
	} else {
		copy(c.buf[1:c.w+1], c.buf[:c.w])
	}
	c.buf[0] = b
	c.w++
}

// startWatch runs watchAfter into a handler: once the request body is read
// (or there is none), a read on the connection can only see the client
// leave (or its next pipelined request), so one runs, and cancels the
// request's context if the client left.
func (c *h1Conn) startWatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.inHandler || c.stopWatch || c.hijacked || c.watching:
		return
	case !c.bodyDone:
		c.watch.Reset(watchAfter) // look again once the body may be read
		return
	case c.r < c.w:
		return // a pipelined request is buffered already: the client is there
	}
	c.watching = true
	c.watchDone = make(chan struct{})
	c.watchN, c.watchErr = 0, nil
	cancel := c.cancel
	// The read waits as long as the handler runs: read_timeout bounds
	// reading the request, not the exchange (a long-lived stream is
	// bounded by the proxy's stream idle timeout). Only the serving
	// goroutine's stop, after this, sets a deadline again.
	c.nc.SetReadDeadline(time.Time{})
	go func() {
		n, err := c.nc.Read(c.one[:])
		c.mu.Lock()
		c.watchN, c.watchErr = n, err
		c.mu.Unlock()
		if n == 0 && err != nil && !isTimeout(err) {
			cancel() // the client left
		}
		close(c.watchDone)
	}()
}

// bodyEnded records that the request body is read to its end.
func (c *h1Conn) bodyEnded() {
	c.mu.Lock()
	c.bodyDone = true
	c.mu.Unlock()
}

// h1Body is a request body read from the connection's buffer.
type h1Body struct {
	c         *h1Conn
	w         *h1Response
	req       *http.Request
	chunked   bool
	expect100 bool

	mu     sync.Mutex
	remain int64 // of the body, or of the current chunk
	eof    bool
	done   atomic.Bool // eof, for readers that must not wait on mu
	err    error       // sticky
	closed bool        // the handler is done with it
	inData bool        // chunked: inside a chunk's data
	trSize int         // chunked: bytes of trailer read
}

var errBodyClosed = errors.New("http: invalid Read on closed Body")

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, errBodyClosed
	case b.eof:
		return 0, io.EOF
	case b.err != nil:
		return 0, b.err
	}
	if b.expect100 {
		b.expect100 = false
		b.w.sendContinue()
	}
	var n int
	var err error
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = b.readData(p)
		if err == nil && b.remain == 0 {
			err = io.EOF
		}
	}
	switch {
	case err == io.EOF:
		b.eof = true
		b.done.Store(true)
		b.c.bodyEnded()
	case err != nil:
		b.err = err
	}
	return n, err
}

// readData reads up to b.remain bytes of body into p.
func (b *h1Body) readData(p []byte) (int, error) {
	c := b.c
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.r == c.w {
		if len(p) >= h1BufSize {
			// Large reads go straight to the caller's buffer.
			n, err := c.nc.Read(p)
			b.remain -= int64(n)
			return n, bodyErr(n, err)
		}
		if err := c.fill(); err != nil {
			return 0, bodyErr(0, err)
		}
	}
	n := copy(p, c.buf[c.r:c.w])
	c.r += n
	b.remain -= int64(n)
	return n, nil
}

// bodyErr turns the end of the stream inside a body into
// io.ErrUnexpectedEOF.
func bodyErr(n int, err error) error {
	switch {
	case n > 0:
		return nil // an error comes again on the next read
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	case err == nil:
		return io.ErrNoProgress
	}
	return err
}

// errChunked is a malformed chunked body.
var errChunked = errors.New("malformed chunked encoding")

func (b *h1Body) readChunked(p []byte) (int, error) {
	for !b.inData || b.remain == 0 {
		if b.inData {
			// The CR LF after a chunk's data.
			line, err := b.line()
			if err != nil {
				return 0, err
			}
			if len(line) != 0 {
				return 0, errChunked
			}
			b.inData = false
		}
		line, err := b.line()
		if err != nil {
			return 0, err
		}
		size, ok := chunkSize(line)
		if !ok {
			return 0, errChunked
		}
		if size == 0 {
			return 0, b.readTrailer()
		}
		b.remain, b.inData = size, true
	}
	n, err := b.readData(p)
	return n, err
}

// line reads one CR LF ended line of the body's framing (without it). A
// framing line must fit in the buffer.
func (b *h1Body) line() ([]byte, error) {
	c := b.c
	scanned := 0
	for {
		if c.buf != nil {
			if i := bytes.IndexByte(c.buf[c.r+scanned:c.w], '\n'); i >= 0 {
				end := c.r + scanned + i
				line := c.buf[c.r:end]
				c.r = end + 1
				if len(line) == 0 || line[len(line)-1] != '\r' {
					return nil, errChunked // a bare LF
				}
				return line[:len(line)-1], nil
			}
			scanned = c.w - c.r
			if c.r == 0 && c.w == len(c.buf) {
				return nil, errChunked // a line longer than the buffer
			}
		}
		if err := c.fill(); err != nil {
			return nil, bodyErr(0, err)
		}
	}
}

// chunkSize parses a chunk-size line: hex digits, then optional white
// space and chunk extensions, which are ignored (RFC 9112 §7.1.1).
func chunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhexByte(line[i])
		if d < 0 {
			break
		}
		if i == 15 {
			return 0, false // past 60 bits
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	for _, c := range rest {
		if c != '\t' && (c < ' ' || c == 0x7f) {
			return 0, false
		}
	}
	return n, true
}

func unhexByte(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// readTrailer reads the trailer section after the last chunk into the
// request's Trailer, as net/http does: every field, declared or not (the
// proxy forwards only the declared ones).
func (b *h1Body) readTrailer() error {
	max := b.c.srv.limits.maxHeaderBytes
	for {
		line, err := b.line()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return io.EOF
		}
		b.trSize += len(line) + 2
		if b.trSize > max {
			return errChunked
		}
		name, v, herr := parseField(string(line))
		if herr != nil {
			return errChunked
		}
		if b.req.Trailer == nil {
			b.req.Trailer = make(http.Header)
		}
		k := textproto.CanonicalMIMEHeaderKey(name)
		b.req.Trailer[k] = append(b.req.Trailer[k], v)
	}
}

func (b *h1Body) Close() error {
	return nil // the server ends the body when the handler returns (end)
}

// ended reports whether the body is read to its end.
// It does not wait for a read under way, which may be blocked on the
// client.
func (b *h1Body) ended() bool { return b.done.Load() }

// end closes the body for good, once the handler returned, and reports
// whether it was read to its end, so the connection can carry another
// request.
func (b *h1Body) end() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.eof
}

// h1Response is the http.ResponseWriter of one exchange.
type h1Response struct {
	c      *h1Conn
	req    *http.Request
	body   *h1Body // nil without a body
	header http.Header

	committed  bool // the head is in wbuf or sent
	status     int
	noBody     bool  // HEAD, 204, 304: no body is sent
	chunked    bool  // the body goes in chunks
	clen       int64 // the declared Content-Length, or -1
	written    int64 // body bytes taken
	closeAfter bool
	sent100    bool
	trailers   []string // the names the head declared in Trailer
	wbuf       []byte
	err        error // a failed write: the connection is broken

	// mu orders the body reader's 100 Continue against the handler's
	// answer: it guards committed and sent100 where both may run.
	mu sync.Mutex
}

func (w *h1Response) Header() http.Header { return w.header }

// sendContinue writes 100 Continue, once, if no answer went first. It is
// called by the body's reader.
func (w *h1Response) sendContinue() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.committed || w.sent100 {
		return
	}
	w.sent100 = true
	if _, err := io.WriteString(w.c.nc, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
		w.err = err
	}
}

func (w *h1Response) WriteHeader(code int) {
	if w.committed {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	w.commit(code)
}

// informational writes a 1xx answer before the final one; an HTTP/1.0
// client gets none.
func (w *h1Response) informational(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.req.ProtoMinor == 0 || w.err != nil {
		return
	}
	if code == http.StatusContinue {
		if w.sent100 {
			return
		}
		w.sent100 = true
	}
	var b []byte
	b = append(b, "HTTP/1.1 "...)
	b = append(b, statusLine(code)...)
	b = append(b, "\r\n"...)
	b = appendHeader(b, w.header)
	b = append(b, "\r\n"...)
	if _, err := w.c.nc.Write(b); err != nil {
		w.err = err
	}
}

// commit fixes the final status and framing and puts the head in wbuf.
func (w *h1Response) commit(code int) {
	if w.body != nil && !w.body.ended() {
		// The handler answers before the body is read (an early 413, a
		// refused 100-continue): what the client still sends of it is
		// not a request, so the connection ends with this answer.
		w.closeAfter = true
	}
	w.mu.Lock()
	w.committed, w.status = true, code
	w.mu.Unlock()
	h := w.header
	w.wbuf = getBuf()[:0]
	bodyAllowed := code != http.StatusNoContent && code != http.StatusNotModified && code >= 200
	delete(h, "Transfer-Encoding") // the server frames the body
	if v := h["Content-Length"]; len(v) > 0 {
		if n, ok := parseLength(v[0]); ok && len(v) == 1 {
			w.clen = n
		} else {
			delete(h, "Content-Length")
		}
	}
	switch {
	case w.req.Method == http.MethodHead:
		w.noBody = true
	case !bodyAllowed:
		w.noBody = true
		if code == http.StatusNoContent {
			delete(h, "Content-Length")
			w.clen = -1
		}
	case w.clen >= 0:
	case w.req.ProtoMinor >= 1:
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0: the body ends with the connection
	}
	for _, v := range h["Connection"] {
		if hasToken(v, "close") {
			w.closeAfter = true
		}
	}
	if w.c.srv.closing.Load() {
		w.closeAfter = true
	}
	delete(h, "Connection")
	if w.chunked {
		for _, v := range h["Trailer"] {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					w.trailers = append(w.trailers, http.CanonicalHeaderKey(name))
				}
			}
		}
	} else {
		delete(h, "Trailer")
	}

	b := w.wbuf
	b = append(b, "HTTP/1.1 "...)
	b = append(b, statusLine(code)...)
	b = append(b, "\r\n"...)
	b = appendHeader(b, h)
	if _, ok := h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, httpDate()...)
		b = append(b, "\r\n"...)
	}
	if w.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	switch {
	case w.closeAfter:
		b = append(b, "Connection: close\r\n"...)
	case w.req.ProtoMinor == 0:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	w.wbuf = b
}

func hasToken(v, tok string) bool {
	for opt := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(opt), tok) {
			return true
		}
	}
	return false
}

// appendHeader appends h's fields in wire form, leaving out the names a
// field cannot have and the trailers, and turning CR and LF in a value into
// spaces, as net/http does, so no value can add a field.
func appendHeader(b []byte, h http.Header) []byte {
	for k, vs := range h {
		if !upstream.ValidToken(k) {
			continue
		}
		for _, v := range vs {
			b = appendLine(b, k, v)
		}
	}
	return b
}

// appendLine appends one field line; see appendHeader.
func appendLine(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	start := len(b)
	b = append(b, strings.TrimSpace(v)...)
	for i := start; i < len(b); i++ {
		if c := b[i]; c == '\r' || c == '\n' || c == 0 {
			b[i] = ' '
		}
	}
	return append(b, "\r\n"...)
}

func (w *h1Response) Write(p []byte) (int, error) {
	if !w.committed {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	var short bool
	if w.clen >= 0 && w.written+int64(len(p)) > w.clen {
		p, short = p[:w.clen-w.written], true
	}
	w.written += int64(len(p))
	if len(p) > 0 {
		if w.chunked {
			w.writeChunk(p)
		} else if len(w.wbuf)+len(p) <= cap(w.wbuf) {
			w.wbuf = append(w.wbuf, p...)
		} else {
			w.writev(p, nil)
		}
	}
	if w.err != nil {
		return 0, w.err
	}
	if short {
		return len(p), http.ErrContentLength
	}
	return len(p), nil
}

func (w *h1Response) writeChunk(p []byte) {
	if len(w.wbuf)+len(p)+20 <= cap(w.wbuf) {
		w.wbuf = strconv.AppendInt(w.wbuf, int64(len(p)), 16)
		w.wbuf = append(w.wbuf, "\r\n"...)
		w.wbuf = append(w.wbuf, p...)
		w.wbuf = append(w.wbuf, "\r\n"...)
		return
	}
	w.wbuf = strconv.AppendInt(w.wbuf, int64(len(p)), 16)
	w.wbuf = append(w.wbuf, "\r\n"...)
	w.writev(p, crlf)
}

var crlf = []byte("\r\n")

// writev sends wbuf, then p, then tail, in one system call where it can,
// and empties wbuf.
func (w *h1Response) writev(p, tail []byte) {
	bufs := net.Buffers{w.wbuf, p}
	if tail != nil {
		bufs = append(bufs, tail)
	}
	if _, err := bufs.WriteTo(w.c.nc); err != nil {
		w.err = err
	}
	w.wbuf = w.wbuf[:0]
}

// flush sends what wbuf holds.
func (w *h1Response) flush() error {
	if w.err == nil && len(w.wbuf) > 0 {
		if _, err := w.c.nc.Write(w.wbuf); err != nil {
			w.err = err
		}
		w.wbuf = w.wbuf[:0]
	}
	return w.err
}

// FlushError sends the head and the body written so far.
func (w *h1Response) FlushError() error {
	if !w.committed {
		w.WriteHeader(http.StatusOK)
	}
	return w.flush()
}

func (w *h1Response) Flush() { w.FlushError() }

func (w *h1Response) SetReadDeadline(t time.Time) error  { return w.c.nc.SetReadDeadline(t) }
func (w *h1Response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// EnableFullDuplex: this server always lets a handler read the request
// body while it writes the response.
func (w *h1Response) EnableFullDuplex() error { return nil }

// Hijack hands the connection over, with the bytes read past the request
// in the reader, as net/http's does. The head must not have been written.
func (w *h1Response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if w.committed {
		return nil, nil, errors.New("proxy: Hijack after the response began")
	}
	c.mu.Lock()
	if c.hijacked {
		c.mu.Unlock()
		return nil, nil, http.ErrHijacked
	}
	c.hijacked = true
	c.stopWatch = true
	watching := c.watching
	c.mu.Unlock()
	c.watch.Stop()
	if watching {
		c.nc.SetReadDeadline(aLongTimeAgo)
		<-c.watchDone
		if c.watchN == 1 {
			c.unread(c.one[0])
		}
	}
	c.nc.SetReadDeadline(time.Time{})
	c.nc.SetWriteDeadline(time.Time{})
	var pending []byte
	if c.buf != nil {
		pending = bytes.Clone(c.buf[c.r:c.w])
		putBuf(c.buf)
		c.buf, c.r, c.w = nil, 0, 0
	}
	var br *bufio.Reader
	if len(pending) > 0 {
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), c.nc), max(len(pending), h1BufSize))
		br.Peek(len(pending))
	} else {
		br = bufio.NewReader(c.nc)
	}
	// Still the server's to count, to cap with maxConns and to close at
	// the end of a shutdown; untracked when the handler, which holds the
	// upgraded session, returns.
	c.stateMu.Lock()
	if c.state.Load() != connClosed {
		c.state.Store(connUpgraded)
	}
	c.stateMu.Unlock()
	return c.nc, bufio.NewReadWriter(br, bufio.NewWriter(c.nc)), nil
}

// finish ends the response once the handler has returned.
func (w *h1Response) finish() error {
	if !w.committed {
		if _, ok := w.header["Content-Length"]; !ok && w.req.Method != http.MethodHead {
			w.header["Content-Length"] = []string{"0"}
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.clen >= 0 && w.written < w.clen && !w.noBody {
		w.closeAfter = true // the client waits for bytes that will not come
	}
	if w.chunked {
		w.wbuf = append(w.wbuf, "0\r\n"...)
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				w.wbuf = appendField(w.wbuf, k, v)
			}
		}
		for k, vs := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && upstream.ValidToken(name) {
				for _, v := range vs {
					w.wbuf = appendField(w.wbuf, name, v)
				}
			}
		}
		w.wbuf = append(w.wbuf, "\r\n"...)
	}
	var err error
	if len(w.wbuf) > 0 {
		// A client that stopped reading cannot hold the connection
		// past this (the proxy bounds the body's relay itself).
		w.c.nc.SetWriteDeadline(time.Now().Add(w.c.srv.limits.flushTimeout()))
		err = w.flush()
		w.c.nc.SetWriteDeadline(time.Time{})
	}
	putBuf(w.wbuf)
	w.wbuf = nil
	return err
}

func appendField(b []byte, k, v string) []byte {
	if !upstream.ValidToken(k) {
		return b
	}
	return appendLine(b, k, v)
}

// abandon ends a response the handler broke off: what was written goes
// out, without the end of the body, and the connection closes.
func (w *h1Response) abandon() {
	if w.committed {
		w.flush()
		putBuf(w.wbuf)
		w.wbuf = nil
	}
}

// statusLine returns "code reason" for the status line.
func statusLine(code int) string {
	if code >= 100 && code < 600 {
		if s := statusLines[code]; s != "" {
			return s
		}
	}
	return strconv.Itoa(code) + " status code " + strconv.Itoa(code)
}

var statusLines = func() (t [600]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = strconv.Itoa(code) + " " + text
		}
	}
	return t
}()

// httpDate returns the current time in the Date field's form, computed at
// most once a second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.s
	}
	d := &cachedDate{sec: sec, s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

type cachedDate struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[cachedDate]

// prefixConn is a connection whose first bytes were read already.
type prefixConn struct {
	net.Conn
	pre    []byte
	open   *atomic.Int64 // the server's count of open HTTP/2 connections
	closed atomic.Bool
}

func (c *prefixConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.Conn.Close()
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// connListener is a net.Listener fed connections by hand.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) hand(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
