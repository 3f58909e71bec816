package grpc_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

// hangGuard bounds every call in these end-to-end tests. It only turns a
// hang (a response buffered by the proxy, a lost trailer) into a failure
// instead of a stuck test run; no assertion depends on it.
const hangGuard = 10 * time.Second

// holdfastYAML is a proxy config with one h2c upstream at addr and one
// route for every path; route holds extra route keys, each line indented
// by four spaces.
func holdfastYAML(addr, route string) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
upstreams:
  backend:
    protocol: h2c
    endpoints:
      - address: http://%s
routes:
  - name: all
    upstream: backend
%s`, addr, route)
}

// startHoldfast runs the proxy in-process from a YAML config, the same
// way `holdfast serve` does, and returns its listen address and a stop
// function that drains it.
func startHoldfast(yamlText string) (addr string, stop func(), err error) {
	cfg, err := config.Parse([]byte(yamlText))
	if err != nil {
		return "", nil, err
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		return "", nil, err
	}
	srv, err := proxy.NewServer(p, cfg, nil)
	if err != nil {
		p.Close()
		return "", nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		p.Close()
	}
	return srv.Addrs()[0].String(), stop, nil
}

// startGRPCServer serves register's services in plaintext (HTTP/2 with
// prior knowledge) on a loopback port and returns its address.
func startGRPCServer(register func(*grpc.Server)) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := grpc.NewServer()
	register(s)
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.Serve(ln)
	}()
	return ln.Addr().String(), func() { s.Stop(); <-served }, nil
}

// dial connects a grpc-go client to addr without TLS, which grpc-go does
// with HTTP/2 prior knowledge: the same as h2c to the proxy.
func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// env is one test's gRPC server, the proxy in front of it, and a client
// connection to the proxy.
type env struct {
	svc  *testService
	conn *grpc.ClientConn
}

// newEnv starts a test service behind holdfast with the given extra route
// keys and dials the proxy. Everything stops when the test ends.
func newEnv(t *testing.T, route string) *env {
	t.Helper()
	svc := newTestService()
	up, stopUp, err := startGRPCServer(svc.register)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopUp)
	conn := proxyConn(t, holdfastYAML(up, route))
	return &env{svc: svc, conn: conn}
}

// proxyConn starts holdfast from yamlText and returns a client connection
// to it; both close when the test ends.
func proxyConn(t *testing.T, yamlText string) *grpc.ClientConn {
	t.Helper()
	addr, stop, err := startHoldfast(yamlText)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	conn, err := dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: the client goes before the proxy.
	t.Cleanup(func() { conn.Close() })
	return conn
}

// guarded is a call context bounded by hangGuard.
func guarded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// recordingBackend is a plain net/http h2c server standing in for a gRPC
// upstream: it answers every request with one status and records what it
// received, so tests can see what the proxy sent upstream and how often.
type recordingBackend struct {
	status   int
	requests chan recorded
}

// recorded is what the upstream saw of one request.
type recorded struct {
	proto  int // HTTP major version
	method string
	path   string
	header http.Header
}

func (b *recordingBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.requests <- recorded{proto: r.ProtoMajor, method: r.Method, path: r.URL.Path, header: r.Header.Clone()}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(b.status)
	w.Write([]byte(http.StatusText(b.status)))
}

// received drains what the backend has recorded so far. Every request has
// finished by the time a client sees its answer, so nothing is in flight.
func (b *recordingBackend) received() []recorded {
	var out []recorded
	for {
		select {
		case r := <-b.requests:
			out = append(out, r)
		default:
			return out
		}
	}
}

// startRecordingBackend serves a recordingBackend over h2c only.
func startRecordingBackend(t *testing.T, status int) (*recordingBackend, string) {
	t.Helper()
	b := &recordingBackend{status: status, requests: make(chan recorded, 64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: b, Protocols: protocols}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b, ln.Addr().String()
}
