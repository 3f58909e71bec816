package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener is a net.Listener whose connections are net.Pipe ends handed
// over by dial, so that an http.Server runs in memory, inside a synctest
// bubble.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects to the listener, or fails once ctx ends.
func (l *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errors.New("pipeListener: connection refused")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// TestDialHook: with Config.Dial set, the HTTP/1.1 transport opens its
// connections with it, for http:// and (with a TLS handshake over the
// connection it returns) https:// endpoints, naming the endpoint's
// host:port with its default port, and pools them as it pools dialed ones.
func TestDialHook(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		tls      bool
		wantAddr string
		want     string
	}{
		{"http, default port", "http://svc.test/", false, "svc.test:80", "HTTP/1.1 svc.test tls=false"},
		{"http, port", "http://svc.test:8080/x", false, "svc.test:8080", "HTTP/1.1 svc.test:8080 tls=false"},
		{"https, default port", "https://api.internal/", true, "api.internal:443", "HTTP/1.1 api.internal tls=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ln := newPipeListener()
				srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.WriteString(w, r.Proto+" "+r.Host+" tls="+strconv.FormatBool(r.TLS != nil))
				})}
				c := Config{}
				if tt.tls {
					caPEM, certPEM, keyPEM := makeCerts(t, "api.internal")
					cert, err := tls.X509KeyPair(certPEM, keyPEM)
					if err != nil {
						t.Fatal(err)
					}
					srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
					caFile := filepath.Join(t.TempDir(), "ca.pem")
					if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
						t.Fatal(err)
					}
					c.TLS = &TLSConfig{CAFile: caFile}
				}
				go func() {
					if tt.tls {
						srv.ServeTLS(ln, "", "")
					} else {
						srv.Serve(ln)
					}
				}()
				// Closed after the transport (cleanups run last first): a
				// TLS connection's close writes an alert, which would wait
				// forever on a pipe whose client end is idle in the pool.
				t.Cleanup(func() { srv.Close() })

				var mu sync.Mutex
				var dials []string
				c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
					mu.Lock()
					dials = append(dials, network+" "+addr)
					mu.Unlock()
					return ln.dial(ctx)
				}
				tr := newTestTransport(t, c)
				for i := range 2 { // the second request reuses the pooled connection
					req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, tt.url, nil)
					resp, err := tr.RoundTrip(req)
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(body) != tt.want {
						t.Errorf("request %d: got %q; want %q", i, body, tt.want)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				if want := "tcp " + tt.wantAddr; len(dials) != 1 || dials[0] != want {
					t.Errorf("got dials %q; want one, %q", dials, want)
				}
			})
		})
	}
}

// TestDialHookFailures: a Dial that fails, hangs or returns nothing is a
// *ConnectError, and the connect timeout bounds the dial and the TLS
// handshake over the connection it returns, exactly.
func TestDialHookFailures(t *testing.T) {
	const connectTimeout = 250 * time.Millisecond
	errRefused := errors.New("refused in memory")
	tests := []struct {
		name  string
		url   string
		dial  func(ctx context.Context, network, addr string) (net.Conn, error)
		took  time.Duration
		cause error // what the *ConnectError wraps, when known
	}{
		{"error", "http://svc.test/", func(context.Context, string, string) (net.Conn, error) {
			return nil, errRefused
		}, 0, errRefused},
		{"hangs", "http://svc.test/", func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, connectTimeout, context.DeadlineExceeded},
		{"no connection", "http://svc.test/", func(context.Context, string, string) (net.Conn, error) {
			return nil, nil
		}, 0, errNoConn},
		{"connection with error", "http://svc.test/", func(context.Context, string, string) (net.Conn, error) {
			c, _ := net.Pipe()
			return c, errRefused
		}, 0, errRefused},
		{"TLS handshake never answered", "https://svc.test/", func(context.Context, string, string) (net.Conn, error) {
			c, _ := net.Pipe() // nobody reads the other end
			return c, nil
		}, connectTimeout, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := newTestTransport(t, Config{Dial: tt.dial, ConnectTimeout: connectTimeout})
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, tt.url, nil)
				start := time.Now()
				resp, err := tr.RoundTrip(req)
				if resp != nil {
					resp.Body.Close()
				}
				if took := time.Since(start); took != tt.took {
					t.Errorf("RoundTrip took %v; want %v", took, tt.took)
				}
				var ce *ConnectError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v; want a *ConnectError", err)
				}
				if tt.cause != nil && !errors.Is(err, tt.cause) {
					t.Errorf("err = %v; want it to wrap %v", err, tt.cause)
				}
			})
		})
	}
}
