package upstream

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawBackend accepts connections on loopback and runs serve on each, in
// its own goroutine. It counts the connections it accepted.
type rawBackend struct {
	ln    net.Listener
	conns atomic.Int32
}

func newRawBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			go func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return b
}

func (b *rawBackend) url() string { return "http://" + b.ln.Addr().String() }

func newTestTransport(t *testing.T, c Config) *Transport {
	t.Helper()
	tr, err := NewTransport(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func get(t *testing.T, tr http.RoundTripper, method, u string, hdr http.Header) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body), err
}

// TestIdleBytesNeverAnswerTheNextRequest is the cross-client mix-up: an
// endpoint that writes to a pooled connection while it is idle (a late
// second response, a body after HEAD or 304, junk) must not have those bytes
// read as the answer to the next, unrelated request.
func TestIdleBytesNeverAnswerTheNextRequest(t *testing.T) {
	for _, tt := range []struct {
		name   string
		method string
		status int
		extra  string // written after the response, once the client pooled the connection
	}{
		{"late second response", "GET", 200, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"},
		{"body after HEAD", "HEAD", 200, "stale body after a HEAD"},
		{"body after 304", "GET", 304, "stale body after a 304"},
		{"junk", "GET", 200, "\x00\x01garbage\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pooled := make(chan struct{})
			written := make(chan struct{})
			var first atomic.Bool
			b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					id := req.Header.Get("X-Id")
					switch {
					case first.CompareAndSwap(false, true):
						// Content-Length promises 5 bytes the HEAD and 304
						// answers never carry.
						fmt.Fprintf(c, "HTTP/1.1 %d OK\r\nX-Id: %s\r\nContent-Length: 5\r\n\r\n", tt.status, id)
						if tt.method == "GET" && tt.status == 200 {
							io.WriteString(c, "first")
						}
						<-pooled
						io.WriteString(c, tt.extra) // delivered before Write returns on loopback
						close(written)
					default:
						fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Id: %s\r\nContent-Length: 5\r\n\r\nfresh", id)
					}
				}
			})
			tr := newTestTransport(t, Config{})
			resp, _, err := get(t, tr, tt.method, b.url()+"/", http.Header{"X-Id": {"1"}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("first status %d; want %d", resp.StatusCode, tt.status)
			}
			close(pooled)
			<-written
			for i := 2; i <= 5; i++ {
				id := strconv.Itoa(i)
				resp, body, err := get(t, tr, "GET", b.url()+"/", http.Header{"X-Id": {id}})
				if err != nil {
					t.Fatalf("request %d: %v; want a fresh connection and an answer", i, err)
				}
				if got := resp.Header.Get("X-Id"); got != id || body != "fresh" {
					t.Fatalf("request %d got X-Id %q body %q; want X-Id %q body \"fresh\"", i, got, body, id)
				}
			}
			if n := b.conns.Load(); n != 2 {
				t.Errorf("backend saw %d connections; want 2 (the dirty one closed, the fresh one reused)", n)
			}
		})
	}
}

func TestBytesBufferedAfterResponseCloseTheConnection(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			// The stray bytes come in the same write as the response.
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Id: %s\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nX-Id: stale\r\nContent-Length: 2\r\n\r\nno", req.Header.Get("X-Id"))
		}
	})
	tr := newTestTransport(t, Config{})
	for i := range 3 {
		id := strconv.Itoa(i)
		resp, body, err := get(t, tr, "GET", b.url()+"/", http.Header{"X-Id": {id}})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("X-Id"); got != id || body != "ok" {
			t.Fatalf("request %s got X-Id %q body %q", id, got, body)
		}
	}
	if n := b.conns.Load(); n != 3 {
		t.Errorf("backend saw %d connections; want 3 (none reused after stray bytes)", n)
	}
}

func TestConnectionClose(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nX-Close-Asked: %v\r\nContent-Length: 2\r\n\r\nok", req.Close)
		// and keeps the connection open, as a careless server might
		br.ReadByte()
	})
	tr := newTestTransport(t, Config{})
	for i := range 2 {
		resp, body, err := get(t, tr, "GET", b.url()+"/", nil)
		if err != nil || body != "ok" {
			t.Fatalf("request %d: %v %q", i, err, body)
		}
		if resp.Header.Get("X-Close-Asked") != "false" {
			t.Errorf("request %d asked to close", i)
		}
	}
	if n := b.conns.Load(); n != 2 {
		t.Errorf("backend saw %d connections; want 2 (Connection: close honoured)", n)
	}
	// A request with Close set says so on the wire.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", b.url()+"/", nil)
	req.Close = true
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Close-Asked") != "true" {
		t.Errorf("Close request: backend saw no Connection: close")
	}
}

func TestKeyForDefaultPorts(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want connKey
	}{
		{"http://localhost/x", connKey{addr: "localhost:80"}},
		{"https://example.test/", connKey{addr: "example.test:443", tls: true}},
		{"http://127.0.0.1:8080", connKey{addr: "127.0.0.1:8080"}},
		{"http://[::1]/", connKey{addr: "[::1]:80"}},
		{"https://[::1]:8443/", connKey{addr: "[::1]:8443", tls: true}},
	} {
		u, _ := url.Parse(tt.in)
		got, err := keyFor(u)
		if err != nil || got != tt.want {
			t.Errorf("keyFor(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	u, _ := url.Parse("ftp://x/")
	if _, err := keyFor(u); err == nil {
		t.Errorf("keyFor(ftp://x/) succeeded; want an error")
	}
}

func TestResponseHeaderLimit(t *testing.T) {
	var sent atomic.Int64
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Flood: " + strings.Repeat("a", 1000) + "\r\n"
		for sent.Load() < 64<<20 {
			n, err := io.WriteString(c, line)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	tr := newTestTransport(t, Config{MaxResponseHeaderBytes: 16 << 10})
	_, _, err := get(t, tr, "GET", b.url()+"/", nil)
	var re *ResetError
	if !errors.As(err, &re) || !errors.Is(err, ErrResponseHeaderTooLarge) {
		t.Fatalf("err = %v; want a *ResetError for ErrResponseHeaderTooLarge", err)
	}
	// Interim answers count against the same limit.
	b2 := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		for range 1000 {
			if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"); err != nil {
				return
			}
		}
	})
	if _, _, err := get(t, tr, "GET", b2.url()+"/", nil); err == nil {
		t.Fatalf("endless 103 answers: no error")
	}
}

// TestEarlyAnswerWhileBodyIsSent: an endpoint that answers 413 at once and
// stops reading a large upload gives that answer, not a reset.
func TestEarlyAnswerWhileBodyIsSent(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!")
		// never reads the body; holds the connection until the client closes
		io.Copy(io.Discard, io.LimitReader(c, 1))
	})
	tr := newTestTransport(t, Config{})
	body := io.MultiReader(bytes.NewReader(make([]byte, 64<<20)))
	req, _ := http.NewRequestWithContext(t.Context(), "POST", b.url()+"/upload", body)
	req.ContentLength = 64 << 20
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v; want the 413", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(got) != "too big!" {
		t.Fatalf("got %d %q; want 413 \"too big!\"", resp.StatusCode, got)
	}
}

type failingReader struct{ n int }

var errClientBody = errors.New("malformed chunked encoding")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errClientBody
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

// TestRequestBodyErrorIsTheClients: a body that fails to read is reported as
// a *RequestBodyError, whether its length was declared or not.
func TestRequestBodyErrorIsTheClients(t *testing.T) {
	b := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body) // waits for a body that never completes
	})
	tr := newTestTransport(t, Config{})
	for _, length := range []int64{-1, 100000} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", b.url()+"/", &failingReader{n: 1000})
		req.ContentLength = length
		_, err := tr.RoundTrip(req)
		var be *RequestBodyError
		if !errors.As(err, &be) || !errors.Is(err, errClientBody) {
			t.Errorf("length %d: err = %v; want a *RequestBodyError wrapping the read error", length, err)
		}
	}
	// A body shorter than its declared length is the client's fault too.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", b.url()+"/", strings.NewReader("short"))
	req.ContentLength = 100
	_, err := tr.RoundTrip(req)
	var be *RequestBodyError
	if !errors.As(err, &be) {
		t.Errorf("short body: err = %v; want a *RequestBodyError", err)
	}
}

func TestConnectErrorAndNoUserinfoInErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	tr := newTestTransport(t, Config{})
	_, _, err := get(t, tr, "GET", "http://"+addr+"/", nil)
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v; want a *ConnectError", err)
	}
	_, err = parseAddress("http://admin:hunter2@example.test")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("parseAddress error %v; want one without the password", err)
	}
	_, err = parseAddress("http://admin:hunter2@exa mple.test/%zz")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("parseAddress error %v; want one without the password", err)
	}
}

func TestInvalidHeaderNeverReachesTheWire(t *testing.T) {
	tr := newTestTransport(t, Config{})
	for _, h := range []http.Header{
		{"X-A": {"v\r\nX-Injected: 1"}},
		{"Bad Name": {"v"}},
		{"X-A": {"v\nGET /internal HTTP/1.1"}},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://127.0.0.1:1/", nil)
		req.Header = h
		if _, err := tr.RoundTrip(req); err == nil || errors.As(err, new(*ConnectError)) {
			t.Errorf("header %q: err = %v; want it refused before dialing", h, err)
		}
	}
}

// TestTLSEndpoint: https:// endpoints get TLS with the configured CA and
// server name, for requests and health checks alike.
func TestTLSEndpoint(t *testing.T) {
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := makeCerts(t, "api.internal")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	health := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			select {
			case health <- struct{}{}:
			default:
			}
		}
		fmt.Fprintf(w, "tls %v sni %s", r.TLS != nil, r.TLS.ServerName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()

	u, err := New(Config{
		Endpoints:   []EndpointConfig{{Address: srv.URL}},
		TLS:         &TLSConfig{CAFile: caFile, ServerName: "api.internal"},
		HealthCheck: &HealthCheckConfig{Interval: 10 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	ep, _ := u.Pick(Mask{})
	for i := range 2 {
		_, body, err := get(t, u.Transport(), "GET", ep.Address().String()+"/", nil)
		if err != nil || body != "tls true sni api.internal" {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
	}
	// Without the CA the certificate is refused.
	u2, err := New(Config{Endpoints: []EndpointConfig{{Address: srv.URL}}, TLS: &TLSConfig{ServerName: "api.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	if _, _, err := get(t, u2.Transport(), "GET", ep.Address().String()+"/", nil); err == nil {
		t.Errorf("an unknown CA was accepted")
	}
	// Health checks went over TLS: the server counted them.
	select {
	case <-health:
	case <-time.After(10 * time.Second):
		t.Errorf("no health check reached the TLS endpoint")
	}
	// Bad files are config errors naming the key.
	for _, tc := range []struct {
		cfg  TLSConfig
		want string
	}{
		{TLSConfig{CAFile: filepath.Join(dir, "missing.pem")}, "tls: ca_file"},
		{TLSConfig{CAFile: "/dev/zero"}, "not a regular file"},
		{TLSConfig{CertFile: caFile}, "key_file"},
	} {
		err := Config{Endpoints: addrs(1), TLS: &tc.cfg}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TLS %+v: Validate() = %v; want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

// makeCerts returns a CA and a server certificate for name, in PEM.
func makeCerts(t *testing.T, name string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "holdfast test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// FuzzWriteHead: whatever the request, what writeHead and writeBody put on
// the wire reads back through net/http as the same request, or validHeader
// refused it.
func FuzzWriteHead(f *testing.F) {
	f.Add("GET", "/a?b=c", "example.test", "X-A", "v", "", -1, "")
	f.Add("POST", "/p", "h", "Idempotency-Key", "k", "hello", 5, "")
	f.Add("POST", "/p", "h", "X-B", "v\r\nInjected: 1", "chunk", -1, "X-Checksum")
	f.Add("PUT", "/%2F", "h:80", "Te", "trailers", "", 0, "Content-Length")
	f.Fuzz(func(t *testing.T, method, target, host, name, value, body string, length int, trailer string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		u.Scheme, u.Host = "http", "upstream.test"
		req := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{name: {value}}}
		if body != "" {
			req.Body = io.NopCloser(strings.NewReader(body))
			req.ContentLength = int64(length)
			if length >= 0 {
				req.ContentLength = int64(len(body))
			}
		}
		if trailer != "" {
			req.Trailer = http.Header{trailer: {"t"}}
		}
		if validHeader(req) != nil {
			return
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		h, err := writeHead(bw, req)
		if err != nil {
			t.Fatal(err)
		}
		if h.body {
			if err := writeBody(bw, req, h); err != nil {
				t.Fatal(err)
			}
		}
		bw.Flush()
		wire := buf.String()
		br := bufio.NewReader(strings.NewReader(wire))
		got, err := http.ReadRequest(br)
		if err != nil {
			if req.Host == "" || strings.ContainsAny(req.Host, "/\\@") {
				return // net/http refuses some hosts it would not send either
			}
			t.Fatalf("written request does not parse: %v\n%q", err, wire)
		}
		if got.Method != method {
			t.Fatalf("method %q; want %q", got.Method, method)
		}
		want := u.RequestURI()
		if !strings.HasPrefix(want, "/") && want != "*" {
			want = "/" + want
		}
		if got.RequestURI != want {
			t.Fatalf("target %q; want %q", got.RequestURI, want)
		}
		gotBody, err := io.ReadAll(got.Body)
		if err != nil {
			t.Fatalf("body: %v\n%q", err, wire)
		}
		if h.body && string(gotBody) != body {
			t.Fatalf("body %q; want %q", gotBody, body)
		}
		if !h.body && len(gotBody) != 0 {
			t.Fatalf("unannounced body %q", gotBody)
		}
		// One message: nothing follows it.
		if rest, _ := io.ReadAll(br); len(rest) > 0 {
			t.Fatalf("bytes after the request: %q\n%q", rest, wire)
		}
		for k := range got.Trailer {
			if !TrailerAllowed(k) {
				t.Fatalf("trailer %q sent", k)
			}
		}
	})
}

// TestIdleBytesOverTLS: the idle check looks under TLS too, at the socket.
// Before, a TLS connection could not be looked into and was taken as quiet.
func TestIdleBytesOverTLS(t *testing.T) {
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := makeCerts(t, "api.internal")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	ln := tls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{cert}})
	pooled, written := make(chan struct{}), make(chan struct{})
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			first := conns.Add(1) == 1
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Id: %s\r\nContent-Length: 2\r\n\r\nok", req.Header.Get("X-Id"))
					if first {
						first = false
						<-pooled
						io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Id: stale\r\nContent-Length: 2\r\n\r\nno")
						close(written)
					}
				}
			}()
		}
	}()
	tr := newTestTransport(t, Config{TLS: &TLSConfig{CAFile: caFile, ServerName: "api.internal"}})
	u := "https://" + inner.Addr().String() + "/"
	if _, _, err := get(t, tr, "GET", u, http.Header{"X-Id": {"1"}}); err != nil {
		t.Fatal(err)
	}
	close(pooled)
	<-written
	// The TLS record may still be in flight on the loopback after Write
	// returned (TLS writes through its own buffer): wait until it has come.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tr.h1.mu.Lock()
		var c *h1Conn
		if cs := tr.h1.idle[connKey{addr: inner.Addr().String(), tls: true}]; len(cs) > 0 {
			c = cs[0]
		}
		tr.h1.mu.Unlock()
		if c == nil || peerClosed(c.peek) || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	resp, body, err := get(t, tr, "GET", u, http.Header{"X-Id": {"2"}})
	if err != nil || resp.Header.Get("X-Id") != "2" || body != "ok" {
		t.Fatalf("second request: %v %v %q; want its own answer on a fresh connection", err, resp.Header.Get("X-Id"), body)
	}
}
