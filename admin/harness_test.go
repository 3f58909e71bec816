package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
	"github.com/holdfast-dev/holdfast/proxy"
)

// The admin tests run a real proxy and admin server on loopback in front of
// testkit backends and talk to both over HTTP. They wait for events, never
// for time: each client request is followed by a wait for the proxy's
// OnRequest call of that request, so its metrics are in when the test looks.

// waitLimit bounds every wait, so that a broken server fails a test instead
// of hanging it; no assertion depends on it.
const waitLimit = 15 * time.Second

// testToken is the admin token of envs started with a token.
const testToken = "t0ken-Sup3r-secret"

// env is a proxy with its admin server and the backends behind it:
//   - upstream shop: good and flaky (which fails every request) behind a
//     round-robin balancer, with outlier detection that ejects after two
//     failures in a row; routes shop (retries 5xx) and limited (rate limit
//     of one request);
//   - upstream ledger: bad (fails every request) behind a breaker that opens
//     after two failures in a row and a fixed concurrency limit; route
//     ledger.
type env struct {
	t       *testing.T
	proxy   *proxy.Proxy
	data    string // data plane base URL
	srv     *Server
	base    string // admin base URL
	metrics *Metrics
	logs    *syncBuffer

	good, flaky, bad *testkit.Backend
	reloads          atomic.Int32
	reloadErr        atomic.Pointer[error]
	requests         chan proxy.RequestInfo
}

type envOptions struct {
	token    bool   // start the admin server with a token file
	top      string // YAML added at the top level
	extra    string // YAML appended to the routes list
	ledger   string // YAML keys added to upstream ledger (indented 4 spaces)
	noReload bool   // leave Config.Reload nil
}

const envConfig = `listen: 127.0.0.1:0
%[5]s
upstreams:
  shop:
    balancer: round_robin
    endpoints:
      - address: %[1]s
      - address: %[2]s
    outlier_detection:
      consecutive_failures: 2
      base_ejection_time: 10m
      max_ejection_time: 10m
      max_ejection_percent: 50
  ledger:
    endpoints:
      - address: %[3]s
    outlier_detection: {disabled: true}
    circuit_breaker: {consecutive_failures: 2, open_duration: 10m}
    concurrency: {limit: 10, queue: 5, queue_timeout: 1s}
%[6]s
routes:
  - name: shop
    match: {path_prefix: /shop}
    upstream: shop
    retry: {attempts: 2, retry_on: [5xx], backoff: {base: 1ms, max: 2ms}}
  - name: ledger
    match: {path_prefix: /ledger}
    upstream: ledger
    retry: {attempts: 1}
  - name: limited
    match: {path_prefix: /limited}
    upstream: shop
    rate_limit: {requests_per_second: 0.001, burst: 1}
%[4]s`

func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{
		t:        t,
		good:     testkit.Start(t, testkit.Config{Name: "good"}),
		flaky:    testkit.Start(t, testkit.Config{Name: "flaky"}),
		bad:      testkit.Start(t, testkit.Config{Name: "bad"}),
		logs:     &syncBuffer{},
		requests: make(chan proxy.RequestInfo, 1024),
	}
	e.flaky.Fail(500)
	e.bad.Fail(500)
	cfg, err := config.Parse([]byte(e.configYAML(o)))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	e.metrics = NewMetrics()
	p, err := proxy.New(cfg, proxy.Options{
		Listener: e.metrics,
		OnRequest: func(info proxy.RequestInfo) {
			e.metrics.OnRequest(info)
			e.requests <- info
		},
	})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	t.Cleanup(p.Close)
	e.proxy = p
	e.metrics.Watch(p)
	ps, err := proxy.NewServer(p, cfg, nil)
	if err != nil {
		t.Fatalf("proxy.NewServer: %v", err)
	}
	e.metrics.WatchServer(ps)
	served := make(chan error, 1)
	go func() { served <- ps.Serve() }()
	t.Cleanup(func() {
		ps.Shutdown(context.Background())
		<-served
	})
	e.data = "http://" + ps.Addrs()[0].String()

	ac := Config{
		Admin:   config.Admin{Listen: "127.0.0.1:0"},
		Proxy:   p,
		Metrics: e.metrics,
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if !o.noReload {
		ac.Reload = func(context.Context) error {
			e.reloads.Add(1)
			if err := e.reloadErr.Load(); err != nil {
				return *err
			}
			return nil
		}
	}
	if o.token {
		ac.TokenFile = writeFile(t, "token", "  "+testToken+"\n")
	}
	srv, err := New(ac)
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	t.Cleanup(srv.Close)
	e.srv, e.base = srv, "http://"+srv.Addr()
	return e
}

func (e *env) configYAML(o envOptions) string {
	return fmt.Sprintf(envConfig, e.good.URL(), e.flaky.URL(), e.bad.URL(), o.extra, o.top, o.ledger)
}

// send makes one data-plane request and waits until the proxy has reported
// it; it returns the status the client saw.
func (e *env) send(path string) int {
	e.t.Helper()
	resp, err := http.Get(e.data + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case <-e.requests:
	case <-time.After(waitLimit):
		e.t.Fatalf("GET %s: the proxy never reported the request", path)
	}
	return resp.StatusCode
}

// breakThings sends traffic until the flaky endpoint is ejected and the
// ledger breaker is open, and returns how many requests each route got.
// Both happen after a fixed number of requests; the bound only catches a
// proxy that never gets there.
func (e *env) breakThings() (shop, ledger int) {
	e.t.Helper()
	for shop = 1; ; shop++ {
		if got := e.send("/shop/items/12345"); got != 200 {
			e.t.Fatalf("GET /shop: got status %d; want 200 (retries reach the good endpoint)", got)
		}
		if e.endpoint("shop", e.flaky.URL()).Ejected {
			break
		}
		if shop > 20 {
			e.t.Fatalf("flaky endpoint not ejected after %d requests", shop)
		}
	}
	for ledger = 1; ; ledger++ {
		e.send("/ledger/balance")
		if e.upstream("ledger").Breaker.State.String() == "open" {
			break
		}
		if ledger > 20 {
			e.t.Fatalf("ledger breaker not open after %d requests", ledger)
		}
	}
	return shop, ledger
}

func (e *env) upstream(name string) proxy.UpstreamStatus {
	e.t.Helper()
	for _, u := range e.proxy.Status().Upstreams {
		if u.Name == name {
			return u
		}
	}
	e.t.Fatalf("no upstream %q in the proxy status", name)
	return proxy.UpstreamStatus{}
}

func (e *env) endpoint(upstream, addr string) (es struct{ Ejected, Healthy bool }) {
	e.t.Helper()
	for _, ep := range e.upstream(upstream).Endpoints {
		if ep.Address == addr {
			es.Ejected, es.Healthy = ep.Ejected, ep.Healthy
			return es
		}
	}
	e.t.Fatalf("no endpoint %s in upstream %s", addr, upstream)
	return es
}

// do makes an admin request and returns the status, body and headers.
func (e *env) do(method, path string, header http.Header, body io.Reader) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func (e *env) setReloadErr(err error) {
	if err == nil {
		e.reloadErr.Store(nil)
		return
	}
	e.reloadErr.Store(&err)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the non-empty lines of b.
var errReloadRejected = errors.New("config: routes[0].timeout (line 3): must be positive")
