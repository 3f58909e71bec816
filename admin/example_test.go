package admin_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/holdfast-dev/holdfast/admin"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

// Example starts a proxy with its admin server and reads readiness and a
// metric, the way a load balancer and Prometheus would.
func Example() {
	cfg, err := config.Parse([]byte(`
upstreams:
  catalog:
    endpoints: [{address: "http://127.0.0.1:9"}]
    circuit_breaker: {}
routes:
  - {name: catalog, upstream: catalog}
`))
	if err != nil {
		panic(err)
	}
	m := admin.NewMetrics()
	p, err := proxy.New(cfg, proxy.Options{Listener: m, OnRequest: m.OnRequest})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	m.Watch(p)
	srv, err := admin.New(admin.Config{Admin: config.Admin{Listen: "127.0.0.1:0"}, Proxy: p, Metrics: m})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, _ := get("/readyz")
	fmt.Println("readyz:", status)
	srv.SetDraining()
	status, _ = get("/readyz")
	fmt.Println("readyz while draining:", status)
	_, metrics := get("/metrics")
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "holdfast_upstream_breaker_state{") {
			fmt.Println(line)
		}
	}
	// Output:
	// readyz: 200
	// readyz while draining: 503
	// holdfast_upstream_breaker_state{state="closed",upstream="catalog"} 1
	// holdfast_upstream_breaker_state{state="half_open",upstream="catalog"} 0
	// holdfast_upstream_breaker_state{state="open",upstream="catalog"} 0
}
