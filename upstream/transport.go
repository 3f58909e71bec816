package upstream

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"
)

// Transport is the one path by which bytes reach an upstream's endpoints:
// proxied requests, upgrades (WebSocket) and health checks alike. HTTP/1.1
// (the default protocol, over TLS for https:// endpoints) goes through a
// lean client of this package that pools connections, never reuses one that
// received bytes while idle, bounds response heads, sends bodies full duplex
// and blames a failed request body on the client ([*RequestBodyError]).
// HTTP/2 (protocol h2c, or HTTP/2 over TLS) goes through net/http's
// Transport.
//
// Errors are a [*ConnectError] when no connection could be made (nothing
// was sent), a [*ResetError] when the connection broke or the response head
// was bad, a [*RequestBodyError] for the client's fault, or the request's
// context error. A 101 answer to a request with an Upgrade header has a body
// that implements io.ReadWriteCloser: the connection, now the caller's.
//
// Build one with [NewTransport]; it is safe for concurrent use.
type Transport struct {
	h1 *h1Transport    // HTTP/1.1; nil for h2c
	h2 *http.Transport // HTTP/2; nil for http1
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport builds the transport c describes (Protocol, ConnectTimeout,
// MaxIdlePerEndpoint, IdleTimeout, MaxResponseHeaderBytes, TLS); zero fields
// take their defaults.
func NewTransport(c Config) (*Transport, error) {
	c = c.withDefaults()
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLS != nil {
		var err error
		if base, err = c.TLS.clientConfig(); err != nil {
			return nil, err
		}
	}
	if c.Protocol != ProtocolH2C {
		h1 := base.Clone()
		h1.NextProtos = []string{"http/1.1"}
		return &Transport{h1: newH1Transport(c, h1)}, nil
	}
	dialer := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
	protocols := new(http.Protocols)
	// Without HTTP1 in the set, net/http speaks HTTP/2 with prior knowledge
	// to http:// URLs (h2c, RFC 9113 §3.3), and HTTP/2 over TLS to https://.
	protocols.SetUnencryptedHTTP2(true)
	protocols.SetHTTP2(true)
	return &Transport{h2: &http.Transport{
		// Proxy stays nil: a proxy talks to its upstreams directly, and
		// HTTP_PROXY in its environment must not reroute them.
		DialContext:            dialer.DialContext,
		Protocols:              protocols,
		TLSClientConfig:        base,
		MaxIdleConnsPerHost:    c.MaxIdlePerEndpoint,
		IdleConnTimeout:        c.IdleTimeout,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: int64(c.MaxResponseHeaderBytes),
		// A proxy passes Accept-Encoding and bodies through untouched.
		DisableCompression: true,
		HTTP2: &http.HTTP2Config{
			// Ping a silent HTTP/2 connection so that a peer that vanished
			// without a FIN is noticed instead of holding requests.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     15 * time.Second,
		},
	}}, nil
}

// RoundTrip sends req to the endpoint its URL names.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.h2 != nil {
		return t.h2.RoundTrip(req)
	}
	return t.h1.RoundTrip(req)
}

// CloseIdleConnections closes every pooled connection.
func (t *Transport) CloseIdleConnections() {
	if t.h2 != nil {
		t.h2.CloseIdleConnections()
		return
	}
	t.h1.CloseIdleConnections()
}

// Close closes the idle connections and stops pooling; it is idempotent.
// Requests in flight finish on their connections.
func (t *Transport) Close() {
	if t.h2 != nil {
		t.h2.CloseIdleConnections()
		return
	}
	t.h1.Close()
}

// ErrTryTimeout is the error of a call [RoundTripUntil] ended at its
// deadline. It matches context.DeadlineExceeded with errors.Is.
var ErrTryTimeout error = tryTimeoutError{}

type tryTimeoutError struct{}

func (tryTimeoutError) Error() string        { return "upstream: per-try timeout" }
func (tryTimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// RoundTripUntil sends req through rt like RoundTrip, and ends the call, the
// response body's reads included, at until: a call that has not answered by
// then fails with [ErrTryTimeout], and body reads after it fail. A zero
// until sets no deadline. On a [*Transport] over HTTP/1.1 the deadline is
// the connection's own (no context and timer per call); elsewhere it is a
// context deadline, cancelled when the body is closed.
func RoundTripUntil(rt http.RoundTripper, req *http.Request, until time.Time) (*http.Response, error) {
	if until.IsZero() {
		return rt.RoundTrip(req)
	}
	if t, ok := rt.(*Transport); ok && t.h1 != nil {
		return t.h1.roundTripUntil(req, until)
	}
	parent := req.Context()
	ctx, cancel := context.WithDeadline(parent, until)
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if parent.Err() == nil && ctx.Err() != nil {
			return nil, ErrTryTimeout
		}
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody cancels a call's context once its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
