package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

// Example runs the proxy in front of one backend: a request a route takes
// is forwarded, and one no route takes gets a local reply.
func Example() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	defer backend.Close()

	cfg, err := config.Parse(fmt.Appendf(nil, `
listen: 127.0.0.1:0
upstreams:
  app:
    endpoints: [{address: %s}]
routes:
  - name: api
    match: {path_prefix: /api}
    upstream: app
    timeout: 2s
`, backend.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	srv, err := proxy.NewServer(p, cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	base := "http://" + srv.Addrs()[0].String()
	for _, path := range []string{"/api/items", "/admin"} {
		resp, err := client.Get(base + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if reason := resp.Header.Get(proxy.HeaderReason); reason != "" {
			fmt.Println(resp.StatusCode, reason)
			continue
		}
		fmt.Println(resp.StatusCode, resp.Header.Get(proxy.HeaderAttempts), string(body))
	}
	// Output:
	// 200 1 hello from /api/items
	// 404 no_route
}
