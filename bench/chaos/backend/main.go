// Command backend is the upstream of the chaos benchmark: a small HTTP
// server on loopback that answers every request with a fixed 64-byte body.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address (loopback)")
	flag.Parse()
	body := []byte(`{"ok":true,"pad":"0123456789012345678901234567890123456789ab"}` + "\n")
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
