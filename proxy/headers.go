package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/textproto"
	"strings"
)

// hopHeaders are meaningful only for one connection and are never forwarded
// (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection", // non-standard, sent by old clients
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te", // canonicalized TE
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopHeaders deletes the hop-by-hop headers from h, including any
// header named in Connection. "TE: trailers" is kept, because gRPC needs it
// end to end.
func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	te := h.Get("Te")
	for _, k := range hopHeaders {
		delete(h, k)
	}
	if strings.EqualFold(strings.TrimSpace(te), "trailers") {
		h["Te"] = []string{"trailers"}
	}
}

// isIdempotent reports whether req may be sent more than once: an idempotent
// method (RFC 9110 §9.2.2) or an Idempotency-Key header.
func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}

// isUpgrade reports whether req asks to switch protocols (WebSocket, h2c
// upgrade) and names the protocol.
func upgradeType(h http.Header) string {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if strings.EqualFold(textproto.TrimString(sf), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}

// setForwarded appends the client address to X-Forwarded-For and the
// scheme to X-Forwarded-Proto.
func setForwarded(out http.Header, in *http.Request) {
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := out["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out["X-Forwarded-For"] = []string{ip}
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	if prior := out["X-Forwarded-Proto"]; len(prior) > 0 {
		proto = strings.Join(prior, ", ") + ", " + proto
	}
	out["X-Forwarded-Proto"] = []string{proto}
}

// requestID returns the request's x-request-id, making one when it is
// missing or unreasonably long.
func requestID(h http.Header) string {
	if id := h.Get("X-Request-Id"); id != "" && len(id) <= 128 {
		return id
	}
	var b [16]byte
	rand.Read(b[:])
	// A UUIDv4 shape, which log pipelines recognise.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	id := string(s[:])
	h.Set("X-Request-Id", id)
	return id
}
