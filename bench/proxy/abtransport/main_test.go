package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

const twoUpstreams = `
listen: 127.0.0.1:0
upstreams:
  a:
    endpoints: [{address: BACKEND}]
    connect_timeout: 250ms
  b:
    endpoints: [{address: BACKEND}]
    max_idle_per_endpoint: 8
routes:
  - name: a
    match: {path_prefix: /a}
    upstream: a
  - name: b
    upstream: b
`

func parse(t *testing.T, yaml, backend string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(strings.ReplaceAll(yaml, "BACKEND", backend)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestSetTransport(t *testing.T) {
	for _, tc := range []struct {
		name, transport string
		wantNetHTTP     bool
		// wantIdle is the idle pool size per upstream with nethttp.
		wantIdle map[string]int
	}{
		{name: "holdfast leaves every upstream's own client", transport: "holdfast"},
		{name: "nethttp gives each upstream its tuned Transport", transport: "nethttp", wantNetHTTP: true,
			wantIdle: map[string]int{"a": 64, "b": 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parse(t, twoUpstreams, "http://127.0.0.1:1")
			if err := setTransport(cfg, tc.transport); err != nil {
				t.Fatalf("got error %v; want none", err)
			}
			for name, u := range cfg.Upstreams {
				tr, ok := u.Transport.(*http.Transport)
				if !tc.wantNetHTTP {
					if u.Transport != nil {
						t.Errorf("upstreams.%s.Transport = %T; want nil (holdfast's own)", name, u.Transport)
					}
					continue
				}
				if !ok {
					t.Fatalf("upstreams.%s.Transport = %T; want *http.Transport", name, u.Transport)
				}
				if got, want := tr.MaxIdleConnsPerHost, tc.wantIdle[name]; got != want {
					t.Errorf("upstreams.%s: MaxIdleConnsPerHost = %d; want %d", name, got, want)
				}
				if !tr.DisableCompression || tr.Proxy != nil || tr.ForceAttemptHTTP2 || tr.IdleConnTimeout != 90*time.Second {
					t.Errorf("upstreams.%s: DisableCompression %v, Proxy set %v, ForceAttemptHTTP2 %v, IdleConnTimeout %v; want true, false, false, 1m30s",
						name, tr.DisableCompression, tr.Proxy != nil, tr.ForceAttemptHTTP2, tr.IdleConnTimeout)
				}
			}
		})
	}
}

func TestSetTransportErrors(t *testing.T) {
	h2c := strings.Replace(twoUpstreams, "connect_timeout: 250ms", "protocol: h2c", 1)
	for _, tc := range []struct {
		name, yaml, transport, want string
	}{
		{"unknown client", twoUpstreams, "fasthttp", `-transport must be holdfast or nethttp, got "fasthttp"`},
		{"nethttp for h2c", h2c, "nethttp", "upstreams.a.protocol is h2c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := setTransport(parse(t, tc.yaml, "http://127.0.0.1:1"), tc.transport)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

// TestNetHTTPCarriesRequests proves that with -transport nethttp the
// proxy's requests go out through the net/http Transport: its dialer is the
// one that connects to the backend.
func TestNetHTTPCarriesRequests(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from "+r.URL.Path)
	}))
	defer backend.Close()
	cfg := parse(t, twoUpstreams, backend.URL)
	if err := setTransport(cfg, "nethttp"); err != nil {
		t.Fatal(err)
	}
	dials := map[string]*atomic.Int64{}
	for name, u := range cfg.Upstreams {
		tr := u.Transport.(*http.Transport)
		dial, n := tr.DialContext, new(atomic.Int64)
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			n.Add(1)
			return dial(ctx, network, addr)
		}
		dials[name] = n
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, path := range []string{"/a", "/b", "/a", "/b"} {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK || w.Body.String() != "from "+path {
			t.Errorf("GET %s: got %d %q; want 200 %q", path, w.Code, w.Body.String(), "from "+path)
		}
	}
	// Each upstream dialled once through its own Transport and then reused
	// the pooled connection.
	for name, n := range dials {
		if got := n.Load(); got != 1 {
			t.Errorf("upstreams.%s: net/http Transport dialled %d times; want 1", name, got)
		}
	}
}
