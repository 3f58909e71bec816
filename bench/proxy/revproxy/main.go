// Command revproxy is the net/http/httputil baseline of the proxy benchmark
// (bench/proxy/run.sh): httputil.NewSingleHostReverseProxy as a Go user
// would write it, with the default transport and no BufferPool.
//
// With -max-idle N it instead gives the proxy its own http.Transport keeping
// N idle connections to the backend (the default transport keeps 2, which
// makes a 32-connection load open and close upstream connections); the
// benchmark reports that tuned variant beside the default one.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19082", "listen address (loopback)")
	backend := flag.String("backend", "http://127.0.0.1:19080", "upstream URL")
	maxIdle := flag.Int("max-idle", 0, "idle upstream connections to keep; 0 = http.DefaultTransport as is")
	flag.Parse()
	u, err := url.Parse(*backend)
	if err != nil {
		log.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	if *maxIdle > 0 {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = *maxIdle
		t.MaxIdleConnsPerHost = *maxIdle
		rp.Transport = t
	}
	srv := &http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
