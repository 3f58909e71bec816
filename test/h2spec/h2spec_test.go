// Package h2spec runs h2spec, the HTTP/2 conformance suite, against the
// data plane's h2c (HTTP/2 with prior knowledge), as an outside check
// would: every test, strict ones included, must pass.
package h2spec

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/summerwind/h2spec"
	h2config "github.com/summerwind/h2spec/config"
)

func TestH2Spec(t *testing.T) {
	// Some of h2spec's tests need a response with a body to the request
	// they send, and read the request body to its end.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello from the upstream\n")
	}))
	t.Cleanup(backend.Close)
	cfg, err := config.Parse([]byte(strings.ReplaceAll(`listen: 127.0.0.1:0
upstreams:
  api:
    endpoints: [{address: BACKEND}]
routes:
  - {name: all, match: {path_prefix: /}, upstream: api, timeout: 5s}
`, "BACKEND", backend.URL)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.NewServer(p, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		p.Close()
	})
	host, port, _ := net.SplitHostPort(srv.Addrs()[0].String())
	portN, _ := strconv.Atoi(port)
	ok, err := h2spec.Run(&h2config.Config{
		Host:         host,
		Port:         portN,
		Path:         "/",
		Timeout:      2 * time.Second,
		MaxHeaderLen: 4000,
		Strict:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("h2spec: some tests failed (above)")
	}
}
