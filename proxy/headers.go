package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/holdfast-dev/holdfast/upstream"
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

// admitUpgrade decides a request's protocol upgrade (RFC 9110 §7.8) by
// allowed, a route's upgrades list (names compared case-insensitively; a
// "/version" the client adds is not compared). It returns the Upgrade value
// to send upstream, or "" when h asks for no upgrade; refuse reports an
// upgrade to a protocol allowed does not list, which gets 403 (as Envoy
// answers). It first drops an h2c upgrade from h (see [dropH2CUpgrade]), so
// that "" also means "serve it as plain HTTP".
func admitUpgrade(h http.Header, allowed []string) (proto string, refuse bool) {
	dropH2CUpgrade(h)
	if upgradeType(h) == "" {
		return "", false
	}
	named := false
	for _, v := range h["Upgrade"] {
		for p := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(textproto.TrimString(p), "/")
			if name == "" {
				continue
			}
			if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, name) }) {
				return "", true
			}
			named = true
		}
	}
	if !named {
		return "", true // an Upgrade that names no protocol
	}
	return strings.Join(h["Upgrade"], ", "), false
}

// dropH2CUpgrade removes h2c from the protocols h asks to upgrade to, and
// HTTP2-Settings with it; when no protocol is left, it removes Upgrade and
// its Connection option too, so the request is no upgrade at all. h2c is
// never passed: past the 101 the client would speak HTTP/2 to the upstream
// itself and reach every path it has, whatever the routes. Envoy drops it
// the same way and serves the request as plain HTTP/1.1.
func dropH2CUpgrade(h http.Header) {
	vs, ok := h["Upgrade"]
	if !ok {
		return
	}
	var keep []string
	h2c := false
	for _, v := range vs {
		for p := range strings.SplitSeq(v, ",") {
			p = textproto.TrimString(p)
			if name, _, _ := strings.Cut(p, "/"); strings.EqualFold(name, "h2c") {
				h2c = true
			} else if p != "" {
				keep = append(keep, p)
			}
		}
	}
	if !h2c {
		return
	}
	delete(h, "Http2-Settings")
	if len(keep) == 0 {
		delete(h, "Upgrade")
		removeConnectionOptions(h, "Upgrade", "Http2-Settings")
		return
	}
	h["Upgrade"] = []string{strings.Join(keep, ", ")}
	removeConnectionOptions(h, "Http2-Settings")
}

// removeConnectionOptions removes names from the Connection header of h,
// and the header when no option is left.
func removeConnectionOptions(h http.Header, names ...string) {
	var kept []string
	for _, f := range h["Connection"] {
		for o := range strings.SplitSeq(f, ",") {
			o = textproto.TrimString(o)
			if o == "" || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, o) }) {
				continue
			}
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// trailerFilter is the set of trailer fields of one message that may be
// forwarded: those its head declared in a Trailer header, less any field
// that frames, routes, authenticates or controls the message, or is
// hop-by-hop (RFC 9110 §6.5.1, §7.6.1). Taking such a field from a
// trailer would let a sender change, after every check was made on the
// head, what the next hop believes about the message. The zero value
// passes nothing.
type trailerFilter struct {
	declared http.Header // canonical names, nil values
	// undeclared passes allowed fields the head did not declare: an
	// HTTP/2 message need not declare its trailers (RFC 9113 §8.1), and
	// gRPC servers send grpc-status and grpc-message without declaring
	// them.
	undeclared bool
}

// requestTrailers returns the filter for the trailers of r. Call it before
// r.Body is read: net/http adds every field of the client's trailer section
// to r.Trailer as the body ends, declared or not, and only the head tells
// which were declared.
func requestTrailers(r *http.Request) trailerFilter {
	return trailerFilter{declared: declaredTrailers(r.Trailer, r.Header)}
}

// responseTrailers returns the filter for the trailers of resp, an
// upstream's response; call it before resp.Body is read. An HTTP/2
// response's undeclared trailers pass too (see [trailerFilter]).
func responseTrailers(resp *http.Response) trailerFilter {
	return trailerFilter{declared: declaredTrailers(resp.Trailer, resp.Header), undeclared: resp.ProtoMajor >= 2}
}

// declaredTrailers returns the names of t (net/http's Trailer map as the
// head left it: the declared names, nil values) that may be forwarded, or
// nil. h is the message's header, whose Connection names more hop-by-hop
// fields.
func declaredTrailers(t, h http.Header) http.Header {
	var out http.Header
	for k := range t {
		if k = http.CanonicalHeaderKey(k); trailerAllowed(k, h) {
			if out == nil {
				out = make(http.Header, len(t))
			}
			out[k] = nil
		}
	}
	return out
}

// names returns the declared fields the filter passes, sorted, to announce
// in a Trailer header before the body; nil when there are none.
func (f trailerFilter) names() []string {
	if len(f.declared) == 0 {
		return nil
	}
	names := make([]string, 0, len(f.declared))
	for k := range f.declared {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// pick returns the fields of got (r.Trailer or resp.Trailer once the body
// has ended) that the filter passes, or nil.
func (f trailerFilter) pick(got http.Header) http.Header {
	var out http.Header
	for k, vs := range got {
		if len(vs) == 0 {
			continue // declared but not sent
		}
		ck := http.CanonicalHeaderKey(k)
		// An HTTP/2 message has no Connection header (RFC 9113 §8.2.2).
		if _, ok := f.declared[ck]; !ok && !(f.undeclared && trailerAllowed(ck, nil)) {
			continue
		}
		if out == nil {
			out = make(http.Header, len(got))
		}
		out[ck] = append(out[ck], vs...)
	}
	return out
}

// trailerAllowed reports whether the field named name (canonical) may be
// forwarded in a trailer section of a message with header h: one
// [upstream.TrailerAllowed] passes, and none that holdfast or another proxy
// sets from the head, nor a hop-by-hop field named in h's Connection.
func trailerAllowed(name string, h http.Header) bool {
	if !upstream.TrailerAllowed(name) {
		return false
	}
	switch {
	case name == "Http2-Settings", name == "Forwarded", name == "X-Request-Id",
		strings.HasPrefix(name, "X-Forwarded-"), strings.HasPrefix(name, "X-Holdfast-"):
		return false
	}
	for _, f := range h["Connection"] {
		for o := range strings.SplitSeq(f, ",") {
			if strings.EqualFold(textproto.TrimString(o), name) {
				return false
			}
		}
	}
	return true
}
