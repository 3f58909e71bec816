package proxy

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// gRPC runs over HTTP/2 with its status in trailers
// (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md). Relaying
// streams and trailers serves it like any other request; two things need
// more. A reply the proxy makes itself must be a gRPC reply, or the client
// sees only a bare HTTP status and guesses the code. And the proxy must keep
// the client's deadline (the grpc-timeout header), so that a call whose
// deadline passes ends as DEADLINE_EXCEEDED rather than as a reset stream
// reported as UNAVAILABLE, which clients retry.

// gRPC status codes used by local replies
// (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md).
const (
	grpcUnknown           = 2
	grpcDeadlineExceeded  = 4
	grpcPermissionDenied  = 7
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

// isGRPC reports whether r is a gRPC call: content type application/grpc,
// alone or with a "+proto"-style suffix or parameters. gRPC-Web
// (application/grpc-web) is not: it carries its status in the body and takes
// plain HTTP replies.
func isGRPC(r *http.Request) bool {
	const prefix = "application/grpc"
	ct := r.Header.Get("Content-Type")
	if len(ct) < len(prefix) || !strings.EqualFold(ct[:len(prefix)], prefix) {
		return false
	}
	rest := ct[len(prefix):]
	return rest == "" || rest[0] == '+' || rest[0] == ';'
}

// grpcTimeout parses a grpc-timeout value: at most 8 digits and a unit, H,
// M, S, m, u or n. A value too large for a time.Duration is the largest
// one. ok is false for anything else, which is then left for the upstream
// to judge.
func grpcTimeout(v string) (d time.Duration, ok bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	var n int64
	for _, c := range []byte(v[:len(v)-1]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt64/int64(unit) {
		return math.MaxInt64, true
	}
	return time.Duration(n) * unit, true
}

// formatGRPCTimeout formats d as a grpc-timeout value: at most 8 digits in
// the finest unit that holds it, truncated, so the upstream's deadline is
// never later than the proxy's. d must be positive.
func formatGRPCTimeout(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		c    byte
	}{{time.Nanosecond, 'n'}, {time.Microsecond, 'u'}, {time.Millisecond, 'm'}, {time.Second, 'S'}, {time.Minute, 'M'}} {
		if v := int64(d / u.unit); v < 1e8 {
			return strconv.FormatInt(max(v, 1), 10) + string(u.c)
		}
	}
	return strconv.FormatInt(min(int64(d/time.Hour), 1e8-1), 10) + "H"
}

// grpcCode is the gRPC status of a local reply. The reason decides where it
// says more than the HTTP status; otherwise gRPC's own table for HTTP
// statuses applies (doc/http-grpc-status-mapping.md).
func grpcCode(status int, reason string) int {
	switch reason {
	case ReasonTimeout:
		return grpcDeadlineExceeded
	case ReasonRateLimited, ReasonBodyTooLarge:
		return grpcResourceExhausted
	case ReasonNoRoute:
		return grpcUnimplemented // what a server without the method says
	case ReasonInvalidRequest:
		return grpcInternal
	case ReasonBreakerOpen, ReasonOverloaded, ReasonShed, ReasonNoHealthyUpstream, ReasonUpstreamReset, ReasonUpstreamError:
		return grpcUnavailable
	}
	switch status {
	case http.StatusBadRequest:
		return grpcInternal
	case http.StatusUnauthorized:
		return grpcUnauthenticated
	case http.StatusForbidden:
		return grpcPermissionDenied
	case http.StatusNotFound:
		return grpcUnimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return grpcUnavailable
	}
	return grpcUnknown
}

// grpcLocalReply writes a local reply to a gRPC call as a Trailers-Only
// response: HTTP 200 and the status in headers that end the stream, which
// is the only way a gRPC client reads an error without a message. The
// reason stays in x-holdfast-reason; a wait hint becomes
// grpc-retry-pushback-ms, which gRPC clients' retry policies obey (gRFC A6).
func grpcLocalReply(w http.ResponseWriter, status int, reason, msg string, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set(HeaderReason, reason)
	h.Set("Grpc-Status", strconv.Itoa(grpcCode(status, reason)))
	h.Set("Grpc-Message", grpcPercentEncode(msg))
	if retryAfter > 0 {
		h.Set("Grpc-Retry-Pushback-Ms", strconv.FormatInt(retryAfter.Milliseconds(), 10))
	}
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
}

// grpcPercentEncode encodes a grpc-message value: bytes outside printable
// ASCII, and '%', become %XX.
func grpcPercentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}
