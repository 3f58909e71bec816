//go:build !race

package adversarial

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawBackend is an upstream on loopback that records every byte it
// receives and answers with whatever its script writes. Each accepted
// connection runs the script in its own goroutine; the connection is closed
// when the script returns.
type rawBackend struct {
	ln     net.Listener
	script func(c *backendConn)

	// mu guards conns.
	mu    sync.Mutex
	conns []*backendConn

	wg sync.WaitGroup
}

// backendConn is one connection a rawBackend accepted.
type backendConn struct {
	net.Conn
	r *bufio.Reader // reads through the recorder

	// mu guards got.
	mu  sync.Mutex
	got bytes.Buffer

	quit chan struct{} // closed when the test ends
}

func (c *backendConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.got.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// received is every byte read from the connection so far.
func (c *backendConn) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.got.Bytes())
}

// sleep waits d, or less when the test ends; it reports whether it waited
// all of d.
func (c *backendConn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.quit:
		return false
	}
}

func newRawBackend(t *testing.T, script func(c *backendConn)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveRaw(t, ln, script)
}

// serveRaw runs a rawBackend on ln until the test ends.
func serveRaw(t *testing.T, ln net.Listener, script func(c *backendConn)) *rawBackend {
	b := &rawBackend{ln: ln, script: script}
	quit := make(chan struct{})
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := &backendConn{Conn: nc, quit: quit}
			c.r = bufio.NewReader(c)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Go(func() {
				defer nc.Close()
				b.script(c)
			})
		}
	}()
	t.Cleanup(func() {
		close(quit)
		ln.Close()
		<-accepting
		for _, c := range b.connections() {
			c.Conn.Close()
		}
		b.wg.Wait()
	})
	return b
}

func (b *rawBackend) URL() string { return "http://" + b.ln.Addr().String() }

func (b *rawBackend) connections() []*backendConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*backendConn(nil), b.conns...)
}

// received is every byte the backend read, all connections together.
func (b *rawBackend) received() []byte {
	var all []byte
	for _, c := range b.connections() {
		all = append(all, c.received()...)
	}
	return all
}

// seenRequest is a request as a backend parsed it from its recorded bytes.
type seenRequest struct {
	Method, Target, Host string
	Header               http.Header
	Body                 []byte
	Trailer              http.Header
}

// requests parses the recorded bytes of every connection into requests, the
// way an HTTP/1.1 server would read them.
func (b *rawBackend) requests() []seenRequest {
	var out []seenRequest
	for _, c := range b.connections() {
		out = append(out, parseRequests(c.received())...)
	}
	return out
}

func parseRequests(raw []byte) []seenRequest {
	var out []seenRequest
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return out
		}
		body, err := io.ReadAll(req.Body)
		out = append(out, seenRequest{Method: req.Method, Target: req.RequestURI, Host: req.Host, Header: req.Header, Body: body, Trailer: req.Trailer})
		if err != nil {
			return out
		}
	}
}

// answer is a scripted HTTP/1.1 server loop: it reads each request on c
// (body included) and writes the raw bytes reply returns. It stops when the
// peer closes, a request cannot be parsed, or reply returns "".
func answer(c *backendConn, reply func(req *http.Request, body []byte) string) {
	for {
		req, err := http.ReadRequest(c.r)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		out := reply(req, body)
		if out == "" {
			return
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

// ok200 is a complete response with body s.
func ok200(s string, headers ...string) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(s)) + "\r\n\r\n" + s)
	return b.String()
}

// rawClient is one client connection that writes exact bytes.
type rawClient struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dial(addr string) (*rawClient, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawClient{Conn: c, r: bufio.NewReader(c)}, nil
}

func (c *rawClient) send(s string) error {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(c, s)
	return err
}

// response reads one response to a request of the given method, body
// included, waiting at most timeout.
func (c *rawClient) response(method string, timeout time.Duration) (*http.Response, []byte, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(c.r, &http.Request{Method: method})
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// closedWithin reports whether the server closes (or resets) the connection
// within d, and what it sent meanwhile.
func (c *rawClient) closedWithin(d time.Duration) (closed bool, extra []byte) {
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c.r)
	return !isTimeout(err), b
}

// roundTrip sends raw on a new connection and reads one response.
func roundTrip(addr, raw, method string, timeout time.Duration) (*http.Response, []byte, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	// A server may answer and close before it has read everything (a 413,
	// say); its answer is still there to read.
	c.send(raw)
	return c.response(method, timeout)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// reference starts net/http/httputil.ReverseProxy with a default
// http.Transport in front of target, as the baseline holdfast must match.
func reference(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = tr
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewUnstartedServer(rp)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		tr.CloseIdleConnections()
	})
	return srv.Listener.Addr().String()
}
