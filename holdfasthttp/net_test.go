package holdfasthttp_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// pipeNet is an in-memory network of net.Pipe connections, for real HTTP
// servers and clients inside testing/synctest bubbles: a goroutine waiting
// on a loopback socket is not durably blocked, so a bubble's clock would
// never advance past it, while one waiting on a pipe is.
type pipeNet struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (n *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	}
}

func (n *pipeNet) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

func (n *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (n *pipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case n.conns <- server:
		return client, nil
	case <-n.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

var quietLog = log.New(io.Discard, "", 0)

// pipeServer serves h on an in-memory network and returns a transport that
// dials it; both are closed when the test ends. URLs may name any host.
// Use it inside synctest bubbles, where time matters.
func pipeServer(t *testing.T, h http.Handler) *http.Transport {
	t.Helper()
	n := newPipeNet()
	srv := &http.Server{Handler: h, ErrorLog: quietLog}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(n)
	}()
	tr := &http.Transport{DialContext: n.DialContext}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		<-done
	})
	return tr
}

// loopServer is an httptest.Server on loopback that counts the
// connections it accepts.
type loopServer struct {
	*httptest.Server
	conns atomic.Int32
}

func startServer(t testing.TB, h http.Handler) *loopServer {
	t.Helper()
	s := &loopServer{Server: httptest.NewUnstartedServer(h)}
	s.Config.ErrorLog = quietLog
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// recorder wraps a real RoundTripper and records every response it
// returns, with what happened to the body: how much of it was read and
// whether it was closed.
type recorder struct {
	next http.RoundTripper

	mu     sync.Mutex
	bodies []*recordedBody
	reqs   []*http.Request
}

type recordedBody struct {
	rc     io.ReadCloser
	status int
	read   atomic.Int64
	closed atomic.Bool
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *recordedBody) Close() error {
	b.closed.Store(true)
	return b.rc.Close()
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b := &recordedBody{rc: resp.Body, status: resp.StatusCode}
	resp.Body = b
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) responses() []*recordedBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*recordedBody(nil), r.bodies...)
}

func (r *recorder) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}
