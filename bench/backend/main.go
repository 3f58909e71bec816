// Command backend is the upstream of the proxy and chaos benchmarks
// (bench/proxy/run.sh, bench/chaos/run.sh):
// a plain net/http server on loopback that answers every request with the
// same small body, keeping connections alive.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19080", "listen address (loopback)")
	flag.Parse()
	body := []byte(`{"ok":true,"pad":"0123456789012345678901234567890123456789ab"}` + "\n")
	length := strconv.Itoa(len(body))
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Assigning the header slices directly skips canonicalisation;
			// the backend should cost the same under every proxy and as
			// little as possible.
			h := w.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Content-Length"] = []string{length}
			w.Write(body)
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
