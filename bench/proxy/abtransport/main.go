// Command abtransport runs holdfast's data plane from a config file, as
// `holdfast serve` does but without the admin server and metrics, with a
// choice of upstream client, so that holdfast's own HTTP/1.1 client and a
// tuned net/http Transport can be compared under the same load in one run
// (bench/proxy/run.sh with AB=1: targets hf-own and hf-nethttp):
//
//	go run ./proxy/abtransport -c holdfast.yaml -transport holdfast
//	go run ./proxy/abtransport -c holdfast.yaml -transport nethttp
//
// -transport holdfast leaves every upstream on the client [upstream.New]
// builds; -transport nethttp gives every upstream its own *http.Transport
// from [nethttp.Transport] (the same pool sizes, timeouts and head limit)
// through upstream.Config.Transport. Everything else (routes, policies,
// server) is the same code in both.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/holdfast-dev/holdfast/bench/nethttp"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/upstream"
)

func main() {
	file := flag.String("c", "holdfast.yaml", "config file")
	transport := flag.String("transport", "holdfast", "upstream client: holdfast (its own HTTP/1.1 client) or nethttp (a tuned net/http Transport)")
	flag.Parse()
	cfg, err := config.Load(*file)
	if err != nil {
		log.Fatal(err)
	}
	if err := setTransport(cfg, *transport); err != nil {
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
	fmt.Fprintf(os.Stderr, "abtransport: serving %v with the %s upstream client\n", cfg.Listen, *transport)
	log.Fatal(srv.Serve())
}

// setTransport points every upstream of cfg at the client named by the
// -transport flag.
func setTransport(cfg *config.Config, name string) error {
	switch name {
	case "holdfast":
		return nil
	case "nethttp":
		for uname, u := range cfg.Upstreams {
			// The net/http Transport here speaks HTTP/1.1 only; swapping it
			// in for h2c would compare nothing.
			if u.Protocol != "" && u.Protocol != upstream.ProtocolHTTP1 {
				return fmt.Errorf("abtransport: -transport nethttp: upstreams.%s.protocol is %s; the A/B compares HTTP/1.1 clients", uname, u.Protocol)
			}
			u.Transport = nethttp.Transport(u.Config)
		}
		return nil
	}
	return fmt.Errorf("abtransport: -transport must be holdfast or nethttp, got %q", name)
}
