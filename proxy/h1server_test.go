package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// h1Wait bounds every wait in these tests; it is reached only when a test
// fails.
const h1Wait = 5 * time.Second

// h1Start serves h on a loopback listener until the test ends and returns
// its address.
func h1Start(t testing.TB, h http.Handler, lim h1Limits, h2 *http.Server) string {
	t.Helper()
	_, addr := h1StartWith(t, h, lim, h2, nil)
	return addr
}

// h1StartWith is h1Start with setup run on the server before it serves.
func h1StartWith(t testing.TB, h http.Handler, lim h1Limits, h2 *http.Server, setup func(*h1Server)) (*h1Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newH1Server(h, lim, h2, nil)
	if setup != nil {
		setup(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve(ln) }()
	t.Cleanup(func() {
		s.close()
		ln.Close()
		<-done
	})
	return s, ln.Addr().String()
}

// h1Recv receives from ch, and fails the test if nothing comes in h1Wait.
func h1Recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(h1Wait):
		t.Fatalf("waited %v for %s", h1Wait, what)
	}
	var zero T
	return zero
}

// h1Client is a raw client connection.
type h1Client struct {
	t  testing.TB
	nc *net.TCPConn
	br *bufio.Reader
}

func h1Dial(t testing.TB, addr string) *h1Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, h1Wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(h1Wait))
	return &h1Client{t: t, nc: nc.(*net.TCPConn), br: bufio.NewReader(nc)}
}

func (c *h1Client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("writing the request: %v", err)
	}
}

// read reads one response to a request with the given method, and its
// whole body.
func (c *h1Client) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading the body of a %d: %v", resp.StatusCode, err)
	}
	return resp, string(b)
}

// closed reports whether the server ends the connection (a clean EOF),
// before the wait runs out, with no more bytes.
func (c *h1Client) closed() error {
	b, err := c.br.ReadByte()
	switch {
	case err == nil:
		rest, _ := c.br.Peek(c.br.Buffered())
		return fmt.Errorf("the server sent %q; want the connection closed", append([]byte{b}, rest...))
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("want the connection closed; got %v", err)
	}
}

// h1Echo answers with the request's body, and tells in headers what it saw.
func h1Echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("X-Path", r.URL.Path)
	w.Header().Set("X-Proto", r.Proto)
	w.Header().Set("X-Remote", r.RemoteAddr)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

func TestH1KeepAlive(t *testing.T) {
	addr := h1Start(t, http.HandlerFunc(h1Echo), h1Limits{}, nil)
	c := h1Dial(t, addr)
	var remotes []string
	for i := range 2 {
		c.send(fmt.Sprintf("POST /%d HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab%d", i, i))
		resp, body := c.read("POST")
		if resp.StatusCode != 200 || body != fmt.Sprintf("ab%d", i) || resp.Header.Get("X-Path") != fmt.Sprintf("/%d", i) {
			t.Fatalf("request %d: got %d %q path %q; want 200 %q", i, resp.StatusCode, body, resp.Header.Get("X-Path"), fmt.Sprintf("ab%d", i))
		}
		if resp.Close {
			t.Fatalf("request %d: the response closes the connection; want keep-alive", i)
		}
		remotes = append(remotes, resp.Header.Get("X-Remote"))
	}
	if remotes[0] != remotes[1] || remotes[0] != c.nc.LocalAddr().String() {
		t.Errorf("remote addresses %q; want both %q", remotes, c.nc.LocalAddr())
	}
}

func TestH1Pipelining(t *testing.T) {
	addr := h1Start(t, http.HandlerFunc(h1Echo), h1Limits{}, nil)
	c := h1Dial(t, addr)
	c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n" +
		"POST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nthree")
	for i, want := range []string{"", "two", "three"} {
		resp, body := c.read("GET")
		if path := resp.Header.Get("X-Path"); resp.StatusCode != 200 || path != fmt.Sprintf("/%d", i+1) || body != want {
			t.Errorf("response %d: %d for %q with %q; want 200 for /%d with %q", i, resp.StatusCode, path, body, i+1, want)
		}
	}
}

func TestH1RequestBodies(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, declared := r.Trailer["X-Sum"]
		before := r.Trailer.Get("X-Sum")
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Declared", fmt.Sprint(declared))
		w.Header().Set("X-Sum-Before", before)
		w.Header().Set("X-Sum", r.Trailer.Get("X-Sum"))
		w.Write(b)
	})
	addr := h1Start(t, h, h1Limits{}, nil)

	t.Run("content-length", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
		if resp, body := c.read("PUT"); resp.StatusCode != 200 || body != "hello world" {
			t.Errorf("got %d %q; want 200 %q", resp.StatusCode, body, "hello world")
		}
	})
	t.Run("chunked", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"5;name=value\r\nhello\r\n" +
			"1 ; x=\"a;b\"\r\n \r\n" +
			"5\r\nworld\r\n" +
			"0;last\r\nX-Sum: 42\r\nX-Extra: e\r\n\r\n")
		resp, body := c.read("PUT")
		if resp.StatusCode != 200 || body != "hello world" {
			t.Fatalf("got %d %q; want 200 %q", resp.StatusCode, body, "hello world")
		}
		if got := resp.Header.Get("X-Declared"); got != "true" {
			t.Errorf("X-Sum declared in r.Trailer before the body: %s; want true", got)
		}
		if got := resp.Header.Get("X-Sum-Before"); got != "" {
			t.Errorf("X-Sum before EOF: %q; want no value yet", got)
		}
		if got := resp.Header.Get("X-Sum"); got != "42" {
			t.Errorf("X-Sum after EOF: %q; want 42", got)
		}
	})
}

// TestH1BodyEndsWithTheStream reads a body whose last bytes come with
// io.EOF from one Read of the connection, as an io.Reader may return them
// (crypto/tls does when close_notify follows the data): the body is
// whole, not cut short.
func TestH1BodyEndsWithTheStream(t *testing.T) {
	const size = 20000
	got := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Large reads, as a proxy copying the body makes them.
		buf := make([]byte, 64<<10)
		n := 0
		for {
			m, err := r.Body.Read(buf[n:])
			n += m
			if err != nil {
				if err == io.EOF && n != size {
					err = fmt.Errorf("EOF after %d bytes", n)
				}
				got <- err
				return
			}
		}
	})
	s := newH1Server(h, h1Limits{}, nil, nil)
	input := fmt.Sprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("b", size))
	nc := &h1ReaderConn{data: []byte(input)}
	c := &h1Conn{srv: s, nc: nc}
	s.track(c)
	c.serve()
	if err := h1Recv(t, got, "the handler"); err != io.EOF {
		t.Errorf("reading the body: %v; want all %d bytes, then io.EOF", err, size)
	}
}

// h1ReaderConn is a net.Conn that reads data, with io.EOF on the Read
// that takes its last byte, and throws away what is written.
type h1ReaderConn struct{ data []byte }

func (c *h1ReaderConn) Read(p []byte) (int, error) {
	n := copy(p, c.data)
	c.data = c.data[n:]
	if len(c.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (c *h1ReaderConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *h1ReaderConn) Close() error                     { return nil }
func (c *h1ReaderConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *h1ReaderConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *h1ReaderConn) SetDeadline(time.Time) error      { return nil }
func (c *h1ReaderConn) SetReadDeadline(time.Time) error  { return nil }
func (c *h1ReaderConn) SetWriteDeadline(time.Time) error { return nil }

func TestH1MalformedChunkedBody(t *testing.T) {
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errs <- err
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
		}
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	head := "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tt := range []struct{ name, body string }{
		{"not hex", "zz\r\nhello\r\n0\r\n\r\n"},
		{"no size", "\r\nhello\r\n0\r\n\r\n"},
		{"size too large", "10000000000000000\r\n"},
		{"data longer than its size", "3\r\nhello\r\n0\r\n\r\n"},
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n"},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n"},
		{"control byte in extension", "5;a\x01\r\nhello\r\n0\r\n\r\n"},
		{"bad trailer line", "0\r\nno colon\r\n\r\n"},
		{"folded trailer", "0\r\nX: a\r\n b\r\n\r\n"},
		{"ends early", "5\r\nhel"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := h1Dial(t, addr)
			c.send(head + tt.body)
			c.nc.CloseWrite()
			select {
			case err := <-errs:
				if err == nil {
					t.Fatalf("the handler read %q as a whole body", tt.body)
				}
			case <-time.After(h1Wait):
				t.Fatal("the handler did not finish reading the body")
			}
			resp, _ := c.read("POST")
			if resp.StatusCode != 400 {
				t.Errorf("status %d; want the handler's 400", resp.StatusCode)
			}
			if err := c.closed(); err != nil {
				t.Errorf("after a broken body: %v", err)
			}
		})
	}
}

func TestH1ExpectContinue(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		h1Echo(w, r)
	})
	addr := h1Start(t, h, h1Limits{}, nil)

	t.Run("read", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("PUT /read HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		// The body goes only once the 100 came.
		resp, _ := c.read("PUT")
		if resp.StatusCode != 100 {
			t.Fatalf("status %d; want 100 first", resp.StatusCode)
		}
		c.send("hello")
		resp, body := c.read("PUT")
		if resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("got %d %q; want 200 %q", resp.StatusCode, body, "hello")
		}
		// The exchange is whole: the connection carries another.
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, _ := c.read("GET"); resp.StatusCode != 200 {
			t.Errorf("next request: status %d; want 200", resp.StatusCode)
		}
	})
	t.Run("refused", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("PUT /refuse HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		resp, _ := c.read("PUT")
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d; want 413 and no 100", resp.StatusCode)
		}
		// RFC 9110 §10.1.1: a server that answers before reading the
		// content SHOULD say whether it closes the connection.
		if !resp.Close {
			t.Errorf("the 413 does not say Connection: close, but the body it did not read leaves the connection unusable")
		}
		if err := c.closed(); err != nil {
			t.Error(err)
		}
	})
}

// TestH1UnreadBody checks a handler that answers without reading a small
// request body: the connection either carries the next request (net/http
// reads up to 256 KiB of a body left unread to keep it) or the answer says
// Connection: close, so that the client does not send the next request
// into a connection the server is closing.
func TestH1UnreadBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ignored")
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	for _, tt := range []struct{ name, req string }{
		{"content-length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := h1Dial(t, addr)
			c.send(tt.req)
			resp, body := c.read("POST")
			if resp.StatusCode != 200 || body != "ignored" {
				t.Fatalf("got %d %q; want 200 %q", resp.StatusCode, body, "ignored")
			}
			if resp.Close {
				if err := c.closed(); err != nil {
					t.Error(err)
				}
				return
			}
			c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if _, err := http.ReadResponse(c.br, nil); err != nil {
				t.Errorf("the answer kept the connection, but the next request on it: %v", err)
			}
		})
	}
}

// TestH1EarlyAnswerToALargeBody checks that a client still sending a large
// body the handler refuses unread gets the answer.
func TestH1EarlyAnswerToALargeBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	const size = 8 << 20
	c := h1Dial(t, addr)
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c.nc, fmt.Sprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", size))
		if err == nil {
			_, err = c.nc.Write(make([]byte, size))
		}
		wrote <- err
	}()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v (write: %v)", err, <-wrote)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d; want 413", resp.StatusCode)
	}
	c.nc.Close()
	<-wrote
}

func TestH1ConnectionClose(t *testing.T) {
	addr := h1Start(t, http.HandlerFunc(h1Echo), h1Limits{}, nil)
	c := h1Dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	resp, _ := c.read("GET")
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("got %d with Close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := c.closed(); err != nil {
		t.Error(err)
	}
}

func TestH1HTTP10(t *testing.T) {
	addr := h1Start(t, http.HandlerFunc(h1Echo), h1Limits{}, nil)
	t.Run("close", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("GET / HTTP/1.0\r\n\r\n")
		resp, _ := c.read("GET")
		if resp.StatusCode != 200 || !resp.Close {
			t.Errorf("got %d with Close %v; want 200, closing", resp.StatusCode, resp.Close)
		}
		if err := c.closed(); err != nil {
			t.Error(err)
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		c := h1Dial(t, addr)
		for i := range 2 {
			c.send("POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi")
			resp, body := c.read("POST")
			if resp.StatusCode != 200 || body != "hi" {
				t.Fatalf("request %d: got %d %q; want 200 %q", i, resp.StatusCode, body, "hi")
			}
			if resp.Close || !strings.EqualFold(resp.Header.Get("Connection"), "keep-alive") {
				t.Fatalf("request %d: Connection %q, Close %v; want keep-alive", i, resp.Header.Get("Connection"), resp.Close)
			}
			if got := resp.Header.Get("X-Proto"); got != "HTTP/1.0" {
				t.Errorf("the handler saw %q; want HTTP/1.0", got)
			}
		}
	})
}

func TestH1UnsizedResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "world")
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	t.Run("HTTP/1.1 chunked", func(t *testing.T) {
		c := h1Dial(t, addr)
		for i := range 2 {
			c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, body := c.read("GET")
			if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.ContentLength != -1 {
				t.Errorf("request %d: Transfer-Encoding %q, Content-Length %d; want chunked", i, resp.TransferEncoding, resp.ContentLength)
			}
			if body != "hello world" || resp.Close {
				t.Fatalf("request %d: body %q, Close %v; want %q on a kept connection", i, body, resp.Close, "hello world")
			}
		}
	})
	t.Run("HTTP/1.0 close-delimited", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, body := c.read("GET")
		if len(resp.TransferEncoding) != 0 || resp.ContentLength != -1 || !resp.Close {
			t.Errorf("Transfer-Encoding %q, Content-Length %d, Close %v; want neither, and Connection: close",
				resp.TransferEncoding, resp.ContentLength, resp.Close)
		}
		if body != "hello world" {
			t.Errorf("body %q; want %q", body, "hello world")
		}
	})
}

func TestH1NoBodyAnswers(t *testing.T) {
	writeErrs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusNoContent)
			_, err := io.WriteString(w, "hello")
			writeErrs <- err
		case "/unsized":
			io.WriteString(w, "hello")
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	})
	addr := h1Start(t, h, h1Limits{}, nil)

	for _, path := range []string{"/sized", "/unsized"} {
		t.Run("HEAD "+path, func(t *testing.T) {
			c := h1Dial(t, addr)
			c.send("HEAD " + path + " HTTP/1.1\r\nHost: h\r\n\r\nGET /sized HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, _ := c.read("HEAD")
			if resp.StatusCode != 200 {
				t.Fatalf("HEAD: status %d; want 200", resp.StatusCode)
			}
			if path == "/sized" && resp.Header.Get("Content-Length") != "5" {
				t.Errorf("HEAD: Content-Length %q; want the GET's 5", resp.Header.Get("Content-Length"))
			}
			// The next bytes are the next response, not a body.
			if next, err := c.br.Peek(len("HTTP/1.1 ")); err != nil || string(next) != "HTTP/1.1 " {
				t.Fatalf("after the HEAD answer: %q, %v; want the next status line", next, err)
			}
			if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "hello" {
				t.Errorf("GET after HEAD: %d %q; want 200 %q", resp.StatusCode, body, "hello")
			}
		})
	}
	t.Run("204", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("GET /204 HTTP/1.1\r\nHost: h\r\n\r\nGET /sized HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, _ := c.read("GET")
		if resp.StatusCode != 204 {
			t.Fatalf("status %d; want 204", resp.StatusCode)
		}
		if err := h1Recv(t, writeErrs, "the 204's Write"); !errors.Is(err, http.ErrBodyNotAllowed) {
			t.Errorf("writing a 204's body: %v; want http.ErrBodyNotAllowed", err)
		}
		// RFC 9110 §8.6: no Content-Length in a 204.
		if _, ok := resp.Header["Content-Length"]; ok || len(resp.TransferEncoding) > 0 {
			t.Errorf("204 with Content-Length %q, Transfer-Encoding %q; want neither", resp.Header["Content-Length"], resp.TransferEncoding)
		}
		if next, err := c.br.Peek(len("HTTP/1.1 ")); err != nil || string(next) != "HTTP/1.1 " {
			t.Fatalf("after the 204: %q, %v; want the next status line", next, err)
		}
		if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "hello" {
			t.Errorf("GET after 204: %d %q; want 200 %q", resp.StatusCode, body, "hello")
		}
	})
}

func TestH1ResponseHeaderInjection(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Value"] = []string{"a\r\nX-Injected: value", "b\nX-Injected: lf", "c\rX-Injected: cr"}
		h["X-Name\r\nX-Injected"] = []string{"name"}
		h.Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		h["X-Sum"] = []string{"1\r\nX-Injected: trailer"}
		h[http.TrailerPrefix+"X-Late\r\nX-Injected"] = []string{"late"}
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	c := h1Dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := c.read("GET")
	if body != "body" {
		t.Fatalf("body %q; want %q", body, "body")
	}
	for _, hh := range []http.Header{resp.Header, resp.Trailer} {
		if v, ok := hh["X-Injected"]; ok {
			t.Errorf("a value made a field: X-Injected %q", v)
		}
	}
	if got := resp.Header["X-Value"]; len(got) != 3 || !strings.HasPrefix(got[0], "a") {
		t.Errorf("X-Value %q; want its three values, made harmless", got)
	}
	if got := resp.Trailer.Get("X-Sum"); !strings.HasPrefix(got, "1") {
		t.Errorf("trailer X-Sum %q; want it, made harmless", got)
	}
	// The connection still frames: the next exchange works.
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "body" {
		t.Errorf("next request: %d %q; want 200 %q", resp.StatusCode, body, "body")
	}
}

func TestH1ResponseTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Declared")
		io.WriteString(w, "data")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Declared", "d")
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "u")
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	c := h1Dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := c.read("GET")
	if body != "data" || len(resp.TransferEncoding) == 0 {
		t.Fatalf("body %q, Transfer-Encoding %q; want %q, chunked", body, resp.TransferEncoding, "data")
	}
	if got := resp.Trailer.Get("X-Declared"); got != "d" {
		t.Errorf("declared trailer %q; want d", got)
	}
	if got := resp.Trailer.Get("X-Undeclared"); got != "u" {
		t.Errorf("TrailerPrefix trailer %q; want u", got)
	}
	if got := resp.Header.Get("X-Declared"); got != "" {
		t.Errorf("the trailer is in the header too: %q", got)
	}
}

func TestH1AbortHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		io.WriteString(w, "more")
		panic(http.ErrAbortHandler)
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	c := h1Dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("the head written before the panic: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading the body: %v; want io.ErrUnexpectedEOF, with no terminating chunk", err)
	}
	if !strings.HasPrefix(string(body), "part") {
		t.Errorf("body %q; want what was flushed, %q", body, "part")
	}
}

func TestH1Hijack(t *testing.T) {
	got := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			got <- "Hijack: " + err.Error()
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(h1Wait))
		b := make([]byte, len("PING after"))
		if _, err := io.ReadFull(brw, b); err != nil {
			got <- "reading: " + err.Error()
			return
		}
		got <- string(b)
		brw.WriteString("PONG")
		brw.Flush()
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	c := h1Dial(t, addr)
	c.send("GET /ws HTTP/1.1\r\nHost: h\r\n\r\nPING after")
	if s := h1Recv(t, got, "the hijacker's read"); s != "PING after" {
		t.Fatalf("the handler read %q; want %q", s, "PING after")
	}
	rest, err := io.ReadAll(c.br)
	if err != nil || string(rest) != "PONG" {
		t.Errorf("the client read %q, %v; want only the handler's %q", rest, err, "PONG")
	}
}

func TestH1ContextCanceledWhenClientLeaves(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(h1Wait):
			ended <- errors.New("the context was not canceled")
		}
	})
	addr := h1Start(t, h, h1Limits{}, nil)
	c := h1Dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	h1Recv(t, started, "the handler to start")
	c.nc.Close()
	if err := h1Recv(t, ended, "the handler to end"); !errors.Is(err, context.Canceled) {
		t.Errorf("the handler ended with %v; want context.Canceled", err)
	}
}

// TestH1WatchHandsBackItsByte runs the client-leaving watch in a handler
// (as its timer does watchAfter into a slow one) and has the client send
// more while it watches: the byte the watch read must reach the next
// request, or the hijacker, in its place.
func TestH1WatchHandsBackItsByte(t *testing.T) {
	watched := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			io.WriteString(w, r.Method+" "+r.URL.Path)
			return
		}
		c := w.(*h1Response).c
		c.startWatch()
		c.mu.Lock()
		done := c.watchDone
		c.mu.Unlock()
		if done == nil {
			http.Error(w, "no watch started", http.StatusInternalServerError)
			return
		}
		watched <- struct{}{}
		select {
		case <-done: // the client's next byte is read
		case <-time.After(h1Wait):
			http.Error(w, "the watch read nothing", http.StatusInternalServerError)
			return
		}
		if r.Context().Err() != nil {
			http.Error(w, "canceled with the client there", http.StatusInternalServerError)
			return
		}
		if r.URL.Path != "/hijack" {
			io.WriteString(w, "slow")
			return
		}
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(h1Wait))
		b := make([]byte, 4)
		io.ReadFull(brw, b)
		brw.WriteString("got " + string(b))
		brw.Flush()
	})
	addr := h1Start(t, h, h1Limits{}, nil)

	t.Run("next request", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
		h1Recv(t, watched, "the watch to start")
		c.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "slow" {
			t.Fatalf("first: %d %q; want 200 %q", resp.StatusCode, body, "slow")
		}
		if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "GET /next" {
			t.Errorf("second: %d %q; want 200 %q", resp.StatusCode, body, "GET /next")
		}
	})
	t.Run("hijack", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("GET /hijack HTTP/1.1\r\nHost: h\r\n\r\n")
		h1Recv(t, watched, "the watch to start")
		c.send("PING")
		if rest, err := io.ReadAll(c.br); err != nil || string(rest) != "got PING" {
			t.Errorf("the client read %q, %v; want %q", rest, err, "got PING")
		}
	})
}

func TestH1HeadTooLarge(t *testing.T) {
	addr := h1Start(t, http.HandlerFunc(h1Echo), h1Limits{maxHeaderBytes: 1024}, nil)
	t.Run("under", func(t *testing.T) {
		c := h1Dial(t, addr)
		c.send("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", 900) + "\r\n\r\n")
		if resp, _ := c.read("GET"); resp.StatusCode != 200 {
			t.Errorf("status %d; want 200", resp.StatusCode)
		}
	})
	for _, n := range []int{1100, 10 << 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := h1Dial(t, addr)
			c.send("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", n) + "\r\n\r\n")
			resp, _ := c.read("GET")
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !resp.Close {
				t.Errorf("got %d, Close %v; want 431, closing", resp.StatusCode, resp.Close)
			}
		})
	}
}

// TestH1RefusedHeads checks the refusals over the wire: the status, and a
// connection that ends, since what follows a refused head cannot be
// framed.
func TestH1RefusedHeads(t *testing.T) {
	addr := h1Start(t, http.HandlerFunc(h1Echo), h1Limits{}, nil)
	for _, tt := range headTests {
		if tt.want != nil {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			c := h1Dial(t, addr)
			c.send(tt.head + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, _ := c.read("GET")
			if resp.StatusCode != tt.status || !resp.Close {
				t.Errorf("got %d, Close %v; want %d, closing", resp.StatusCode, resp.Close, tt.status)
			}
			if err := c.closed(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestH1H2CPriorKnowledge(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	})
	var only http.Protocols
	only.SetUnencryptedHTTP2(true)
	addr := h1Start(t, h, h1Limits{}, &http.Server{Handler: h, Protocols: &only})
	tr := &http.Transport{Protocols: &only}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: h1Wait}
	resp, err := cl.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.ProtoMajor != 2 || string(body) != "HTTP/2.0" {
		t.Errorf("got %s %q, %v; want an HTTP/2 answer from the HTTP/2 server", resp.Proto, body, err)
	}
	// HTTP/1.1 is still served beside it.
	c := h1Dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := c.read("GET"); body != "HTTP/1.1" {
		t.Errorf("HTTP/1.1: %d %q; want HTTP/1.1", resp.StatusCode, body)
	}
}

func TestH1Shutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			close(started)
			select {
			case <-release:
			case <-time.After(h1Wait):
			}
		}
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newH1Server(h, h1Limits{}, nil, nil)
	served := make(chan error, 1)
	go func() { served <- s.serve(ln) }()
	defer s.close()
	addr := ln.Addr().String()

	idle := h1Dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := idle.read("GET"); body != "done" {
		t.Fatalf("idle connection's request: %q; want done", body)
	}
	busy := h1Dial(t, addr)
	busy.send("GET /busy HTTP/1.1\r\nHost: h\r\n\r\n")
	h1Recv(t, started, "the busy handler to start")

	ln.Close()
	if err := h1Recv(t, served, "serve to return"); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		t.Errorf("serve returned %v; want it closed", err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h1Wait)
		defer cancel()
		shut <- s.shutdown(ctx)
	}()
	if err := idle.closed(); err != nil {
		t.Errorf("the idle connection: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned (%v) with a handler running", err)
	default:
	}
	close(release)
	resp, body := busy.read("GET")
	if body != "done" || !resp.Close {
		t.Errorf("busy connection: %q, Close %v; want done, closing", body, resp.Close)
	}
	if err := busy.closed(); err != nil {
		t.Errorf("the busy connection after its exchange: %v", err)
	}
	if err := h1Recv(t, shut, "shutdown to return"); err != nil {
		t.Errorf("shutdown: %v; want nil once the busy connection ended", err)
	}
}

// FuzzH1Conn feeds arbitrary client bytes to a connection and checks that
// the server never panics, ends once the client is done, and writes only
// responses that parse.
func FuzzH1Conn(f *testing.F) {
	for _, tt := range headTests {
		f.Add([]byte(tt.head))
	}
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n5;e=1\r\nhello\r\n0\r\nX: y\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nab",
		"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("Content-Length", "2")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
		}
		io.WriteString(w, "ok")
	})
	s := newH1Server(h, h1Limits{maxHeaderBytes: 8 << 10}, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, input []byte) {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := &h1Conn{srv: s, nc: sc}
		if s.track(c) != trackOK {
			t.Fatal("the server is closed")
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.serve()
		}()
		deadline := time.Now().Add(h1Wait)
		cc.SetDeadline(deadline)
		wrote := make(chan error, 1)
		go func() {
			_, err := cc.Write(input)
			cc.(*net.TCPConn).CloseWrite()
			wrote <- err
		}()
		out, err := io.ReadAll(cc)
		if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			t.Fatalf("%q: reading the responses: %v", input, err)
		}
		<-wrote
		select {
		case <-done:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%q: the connection's goroutine is still running after the client left", input)
		}
		checkResponses(t, input, out)
	})
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// checkResponses parses out, what the server wrote, as responses.
func checkResponses(t *testing.T, input, out []byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(out))
	for i := 0; ; i++ {
		if _, err := br.Peek(1); err == io.EOF {
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: response %d does not parse: %v\nall written: %q", input, i, err, out)
		}
		switch resp.StatusCode {
		case 100, 200, 400, 408, 417, 431, 501, 505:
		default:
			t.Fatalf("%q: response %d has status %d\nall written: %q", input, i, resp.StatusCode, out)
		}
		if resp.Header.Get("X-Method") == "HEAD" {
			continue // no body follows, whatever its Content-Length says
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("%q: response %d's body: %v\nall written: %q", input, i, err, out)
		}
	}
}

// TestH1MaxConnections: with limits.max_connections open, one more
// connection is closed as soon as it is accepted, and counted; once one
// of them ends, a new connection is served.
func TestH1MaxConnections(t *testing.T) {
	ended := make(chan struct{}, 10)
	s, addr := h1StartWith(t, http.HandlerFunc(h1Echo), h1Limits{maxConns: 2}, nil, func(s *h1Server) {
		s.hooks = &h1Hooks{ended: func() { ended <- struct{}{} }}
	})
	a, b := h1Dial(t, addr), h1Dial(t, addr)
	for _, c := range []*h1Client{a, b} {
		c.send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
		c.read("GET")
	}
	over := h1Dial(t, addr)
	if err := over.closed(); err != nil {
		t.Fatalf("a third connection with 2 allowed: %v", err)
	}
	if st := s.connStats(); st.Refused != 1 || st.Accepted != 3 {
		t.Errorf("accepted %d, refused %d; want 3 and 1", st.Accepted, st.Refused)
	}
	a.nc.Close()
	h1Recv(t, ended, "the server to end the connection the client closed")
	c := h1Dial(t, addr)
	c.send("GET /y HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := c.read("GET"); resp.Header.Get("X-Path") != "/y" {
		t.Errorf("after one of them closed, a new connection got %d %v; want it served", resp.StatusCode, resp.Header)
	}
}

func TestH1UpgradedConnectionsCount(t *testing.T) {
	// An upgraded connection stays the server's: counted, held against
	// maxConns, and closed when a shutdown's time is up.
	ended := make(chan struct{}, 10)
	upgrade := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			h1Echo(w, r)
			return
		}
		nc, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		io.Copy(nc, rw) // the session: an echo, until the client or the server ends it
	})
	s, addr := h1StartWith(t, upgrade, h1Limits{maxConns: 2}, nil, func(s *h1Server) {
		s.hooks = &h1Hooks{ended: func() { ended <- struct{}{} }}
	})
	ws := h1Dial(t, addr)
	ws.send("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	if resp, err := http.ReadResponse(ws.br, &http.Request{Method: "GET"}); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v, %v; want 101", resp, err)
	}
	ws.send("ping")
	if b := make([]byte, 4); func() error { _, err := io.ReadFull(ws.br, b); return err }() != nil || string(b) != "ping" {
		t.Fatalf("the session echoed %q; want ping", b)
	}
	if st := s.connStats(); st.Upgraded != 1 || st.Active+st.Idle+st.Parked != 0 {
		t.Errorf("connections %+v; want the one upgraded", st)
	}
	keep := h1Dial(t, addr)
	keep.send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	keep.read("GET")
	if err := h1Dial(t, addr).closed(); err != nil {
		t.Fatalf("a third connection, with an upgraded and a keep-alive one open and 2 allowed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("shutdown: %v; want its deadline, the session still open", err)
	}
	if err := ws.closed(); err != nil {
		t.Fatalf("the upgraded connection after the shutdown's time: %v", err)
	}
	for range 2 {
		h1Recv(t, ended, "both connections to end")
	}
	if got := s.tracked(); got != 0 {
		t.Errorf("the server tracks %d connections after shutdown; want none", got)
	}
}
