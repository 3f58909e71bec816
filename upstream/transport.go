package upstream

import (
	"net"
	"net/http"
	"time"
)

// newTransport builds the connection pool of an upstream from c, which has
// its defaults applied.
func newTransport(c Config) *http.Transport {
	dialer := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
	protocols := new(http.Protocols)
	switch c.Protocol {
	case ProtocolH2C:
		// Without HTTP1 in the set, net/http speaks HTTP/2 with prior
		// knowledge to http:// URLs (h2c, RFC 9113 section 3.3), and HTTP/2
		// over TLS to https:// ones.
		protocols.SetUnencryptedHTTP2(true)
		protocols.SetHTTP2(true)
	default:
		protocols.SetHTTP1(true)
	}
	return &http.Transport{
		// Proxy stays nil: a proxy talks to its upstreams directly, and
		// HTTP_PROXY in its environment must not reroute them.
		DialContext:           dialer.DialContext,
		Protocols:             protocols,
		MaxIdleConnsPerHost:   c.MaxIdlePerEndpoint,
		IdleConnTimeout:       c.IdleTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A proxy passes Accept-Encoding and bodies through untouched.
		DisableCompression: true,
		HTTP2: &http.HTTP2Config{
			// Ping a silent HTTP/2 connection so that a peer that vanished
			// without a FIN is noticed instead of holding requests.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     15 * time.Second,
		},
	}
}
