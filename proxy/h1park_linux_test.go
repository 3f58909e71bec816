//go:build linux

package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// parkServer serves h on loopback with a grace of a nanosecond, so that a
// connection parks as soon as it waits for a request, and counts parks
// and ends of serving on the returned channels.
func parkServer(t *testing.T, lim h1Limits, h http.Handler) (s *h1Server, addr string, parked, ended chan struct{}) {
	t.Helper()
	if theParker() == nil {
		t.Fatal("no parker: epoll could not be had")
	}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(r.URL.Path)))
			io.WriteString(w, r.URL.Path)
		})
	}
	parked, ended = make(chan struct{}, 1000), make(chan struct{}, 1000)
	s, addr = h1StartWith(t, h, lim, nil, func(s *h1Server) {
		s.grace = time.Nanosecond
		s.hooks = &h1Hooks{parked: func() { parked <- struct{}{} }, ended: func() { ended <- struct{}{} }}
	})
	return s, addr, parked, ended
}

// parkedClient dials addr and has one exchange, and returns once the
// connection is parked after it. A new connection parks before its first
// request too, when that comes after the grace: waiting for that park
// first makes the one after the exchange the one waited for, whatever
// the timing.
func parkedClient(t *testing.T, addr string, parked <-chan struct{}) *h1Client {
	t.Helper()
	c := h1Dial(t, addr)
	h1Recv(t, parked, "the new connection to park")
	c.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := c.read("GET"); body != "/a" {
		t.Fatalf("got %q; want /a", body)
	}
	h1Recv(t, parked, "the connection to park after its exchange")
	return c
}

func (s *h1Server) tracked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func TestH1IdleConnectionsHoldNoGoroutine(t *testing.T) {
	s, addr, parked, _ := parkServer(t, h1Limits{}, nil)
	const n = 50
	clients := make([]*h1Client, n)
	for i := range clients {
		clients[i] = h1Dial(t, addr)
	}
	// Each waits for its first request with no goroutine, and again after
	// each of its exchanges.
	for range n {
		h1Recv(t, parked, "a new connection to park")
	}
	before := runtime.NumGoroutine()
	for round := range 3 {
		for i, c := range clients {
			c.send(fmt.Sprintf("GET /%d/%d HTTP/1.1\r\nHost: h\r\n\r\n", round, i))
		}
		for i, c := range clients {
			if _, body := c.read("GET"); body != fmt.Sprintf("/%d/%d", round, i) {
				t.Fatalf("round %d, connection %d: %q", round, i, body)
			}
		}
		for range n {
			h1Recv(t, parked, "a connection to park after its exchange")
		}
		// The count is taken with every connection parked: none of them
		// has a goroutine (a few of the runtime's may come and go).
		if g := runtime.NumGoroutine(); g > before+n/5 {
			t.Errorf("round %d: %d goroutines with %d connections parked, %d before; want no goroutine per parked connection", round, g, n, before)
		}
	}
	if got := s.tracked(); got != n {
		t.Errorf("the server tracks %d connections; want the %d parked", got, n)
	}
}

func TestH1ParkedConnectionIdleTimeout(t *testing.T) {
	s, addr, parked, ended := parkServer(t, h1Limits{idleTimeout: 50 * time.Millisecond}, nil)
	c := parkedClient(t, addr, parked)
	// No goroutine reads it; its idle timeout still ends it.
	if err := c.closed(); err != nil {
		t.Fatalf("the parked connection past its idle timeout: %v", err)
	}
	h1Recv(t, ended, "the connection to be untracked")
	if got := s.tracked(); got != 0 {
		t.Errorf("the server tracks %d connections; want none", got)
	}
}

func TestH1ParkedConnectionClientLeaves(t *testing.T) {
	s, addr, parked, ended := parkServer(t, h1Limits{}, nil)
	c := parkedClient(t, addr, parked)
	c.nc.Close()
	h1Recv(t, ended, "the server to end the connection the client closed")
	if got := s.tracked(); got != 0 {
		t.Errorf("the server tracks %d connections; want none", got)
	}
}

func TestH1ParkedConnectionHalfOfAHead(t *testing.T) {
	// The bytes that wake a connection need not be a whole head.
	_, addr, parked, _ := parkServer(t, h1Limits{}, nil)
	c := parkedClient(t, addr, parked)
	c.send("GET /b HTT") // the rest may come after the wake or with it
	c.send("P/1.1\r\nHost: h\r\n\r\n")
	if _, body := c.read("GET"); body != "/b" {
		t.Fatalf("got %q; want /b", body)
	}
}

func TestH1ParkedFirstRequestH2C(t *testing.T) {
	// A connection parked before its first request still gets HTTP/2 with
	// prior knowledge when it wakes.
	h2 := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	h2.Protocols = new(http.Protocols)
	h2.Protocols.SetUnencryptedHTTP2(true)
	parked := make(chan struct{}, 1)
	_, addr := h1StartWith(t, http.NotFoundHandler(), h1Limits{}, h2, func(s *h1Server) {
		s.grace = time.Nanosecond
		s.hooks = &h1Hooks{parked: func() { parked <- struct{}{} }}
	})
	c := h1Dial(t, addr)
	h1Recv(t, parked, "the new connection to park")
	c.send(string(h2Preface))
	// The HTTP/2 server's SETTINGS frame: nine bytes of header, type 4.
	head := make([]byte, 9)
	if _, err := io.ReadFull(c.br, head); err != nil || head[3] != 4 {
		t.Fatalf("after the preface: % x, %v; want the HTTP/2 server's SETTINGS", head, err)
	}
}

func TestH1ShutdownClosesParkedConnections(t *testing.T) {
	s, addr, parked, _ := parkServer(t, h1Limits{}, nil)
	var clients []*h1Client
	for range 5 {
		c := parkedClient(t, addr, parked)
		clients = append(clients, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h1Wait)
	defer cancel()
	if err := s.shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v; want nil with every connection idle", err)
	}
	for i, c := range clients {
		if err := c.closed(); err != nil {
			t.Errorf("connection %d: %v", i, err)
		}
	}
}

func TestH1CloseClosesParkedConnections(t *testing.T) {
	s, addr, parked, _ := parkServer(t, h1Limits{}, nil)
	c := parkedClient(t, addr, parked)
	s.close()
	if err := c.closed(); err != nil {
		t.Fatal(err)
	}
	if got := s.tracked(); got != 0 {
		t.Errorf("the server tracks %d connections after close; want none", got)
	}
}

func TestH1ParkingUnderLoad(t *testing.T) {
	// Every request wakes a parked connection, on many at once, with an
	// idle timeout as short as the gaps between requests racing the
	// wakes.
	_, addr, _, _ := parkServer(t, h1Limits{idleTimeout: time.Millisecond}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			nc, err := net.DialTimeout("tcp", addr, h1Wait)
			if err != nil {
				errs <- err
				return
			}
			c := &h1Client{t: t, nc: nc.(*net.TCPConn)}
			defer c.nc.Close()
			for j := range 30 {
				c.nc.SetDeadline(time.Now().Add(h1Wait))
				if _, err := fmt.Fprintf(c.nc, "GET /%d/%d HTTP/1.1\r\nHost: h\r\n\r\n", i, j); err != nil {
					errs <- err
					return
				}
				buf := make([]byte, 512)
				n, err := c.nc.Read(buf)
				if err != nil {
					// The idle timeout may close it between two
					// requests: a fresh connection goes on.
					c.nc.Close()
					nc, err = net.DialTimeout("tcp", addr, h1Wait)
					if err != nil {
						errs <- err
						return
					}
					c.nc = nc.(*net.TCPConn)
					continue
				}
				if want := fmt.Sprintf("/%d/%d", i, j); n < len(want) || string(buf[n-len(want):n]) != want {
					errs <- fmt.Errorf("got %q; want a response ending %s", buf[:n], want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
