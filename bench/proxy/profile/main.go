// Command profile runs holdfast's data plane from a config file, as
// `holdfast serve` does, with net/http/pprof on a separate address, so that
// the proxy can be profiled under the benchmark's load:
//
//	go run ./proxy/profile -c holdfast.yaml -pprof 127.0.0.1:19099 &
//	wrk -t1 -c32 -d30s http://127.0.0.1:19081/ &
//	go tool pprof -top 'http://127.0.0.1:19099/debug/pprof/profile?seconds=20'
//
// PROFILE=1 bash bench/proxy/run.sh does this and writes the profile to
// bench/results/holdfast.cpu.prof.
package main

import (
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"time"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

func main() {
	file := flag.String("c", "holdfast.yaml", "config file")
	pprofAddr := flag.String("pprof", "127.0.0.1:19099", "pprof listen address (loopback)")
	flag.Parse()
	cfg, err := config.Load(*file)
	if err != nil {
		log.Fatal(err)
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := proxy.NewServer(p, cfg, nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		ps := &http.Server{Addr: *pprofAddr, ReadHeaderTimeout: 5 * time.Second} // DefaultServeMux holds pprof
		log.Fatal(ps.ListenAndServe())
	}()
	log.Fatal(srv.Serve())
}
