// Package nethttp builds the net/http Transport that the A/B benchmarks
// (BenchmarkUpstreamTransport in bench/, the hf-nethttp target of
// bench/proxy/run.sh) put in place of holdfast's own HTTP/1.1 upstream
// client, so that both measure the same tuned Transport.
package nethttp

import (
	"cmp"
	"net"
	"net/http"
	"time"

	"github.com/holdfast-dev/holdfast/upstream"
)

// Transport returns a new *http.Transport set up as [upstream.NewTransport]
// sets up holdfast's client for c: the same connect timeout and TCP
// keep-alive, MaxIdlePerEndpoint idle connections per endpoint (and no limit
// across endpoints, as holdfast has none), the same idle timeout and
// response-head limit, no compression, no proxy from the environment and
// HTTP/1.1 only. Zero fields of c take holdfast's defaults (connect 1s,
// 64 idle, 90s, 64 KiB). TLS settings are not copied: the benchmarks speak
// plain HTTP on loopback.
func Transport(c upstream.Config) *http.Transport {
	connect := cmp.Or(c.ConnectTimeout, upstream.DefaultConnectTimeout)
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil, // a proxy dials its upstreams directly
		DialContext:            dialer.DialContext,
		MaxIdleConnsPerHost:    cmp.Or(c.MaxIdlePerEndpoint, upstream.DefaultMaxIdlePerEndpoint),
		IdleConnTimeout:        cmp.Or(c.IdleTimeout, upstream.DefaultIdleTimeout),
		MaxResponseHeaderBytes: int64(cmp.Or(c.MaxResponseHeaderBytes, upstream.DefaultMaxResponseHeaderBytes)),
		DisableCompression:     true, // a proxy passes Accept-Encoding through
		ForceAttemptHTTP2:      false,
	}
}
