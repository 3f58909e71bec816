// Command profile runs the chaos proxy's API server (package chaos/toxic) as
// `holdfast chaos` does, with the same collectors registered, and
// net/http/pprof on a separate address, so that the proxy can be profiled
// under the benchmark's load:
//
//	go build -o /tmp/chaosprofile . && /tmp/chaosprofile -api 127.0.0.1:18476 -pprof 127.0.0.1:18499 &
//	curl -X POST http://127.0.0.1:18476/proxies -d '{"name":"b","listen":"127.0.0.1:18083","upstream":"127.0.0.1:18080","enabled":true}'
//	wrk -t2 -c32 -d30s http://127.0.0.1:18083/ &
//	go tool pprof -top 'http://127.0.0.1:18499/debug/pprof/profile?seconds=20'
//
// PROFILE=1 bash bench/chaos/run.sh does this and writes the profile next
// to its report. It is its own module so that holdfast's dependencies stay
// out of the bench module's go.mod.
package main

import (
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/holdfast-dev/holdfast/chaos/toxic"
)

func main() {
	apiAddr := flag.String("api", "127.0.0.1:18476", "address of the Toxiproxy-compatible API (loopback)")
	pprofAddr := flag.String("pprof", "127.0.0.1:18499", "pprof listen address (loopback)")
	flag.Parse()
	s, err := toxic.NewServer(toxic.Config{Version: "profile"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	s.Registry().MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	go func() {
		ps := &http.Server{Addr: *pprofAddr, ReadHeaderTimeout: 5 * time.Second} // DefaultServeMux holds pprof
		log.Fatal(ps.ListenAndServe())
	}()
	api := &http.Server{Addr: *apiAddr, Handler: s, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(api.ListenAndServe())
}
