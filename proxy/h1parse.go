package proxy

import (
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/holdfast-dev/holdfast/upstream"
)

// The data plane's HTTP/1.1 request parser. It is stricter than net/http's
// on purpose: a request stream is framed by every hop that reads it, and a
// request is smuggled when two hops disagree on where one request ends
// (RFC 9112 §11.2), so every reading that two parsers could take two ways
// is refused instead of resolved:
//
//   - lines end in CR LF; a bare LF or a bare CR is refused (§2.2 allows a
//     server to accept a bare LF; we do not);
//   - obsolete line folding is refused (§5.2 allows a 400);
//   - white space between a field name and its colon is refused (§5.1);
//   - Content-Length is digits only, and several must agree (§6.3);
//   - Transfer-Encoding with Content-Length, Transfer-Encoding on HTTP/1.0,
//     and any coding but one "chunked" are refused (§6.1, §6.3);
//   - control characters anywhere in a head are refused.
//
// Refusals carry the status to answer with: 400, 431 (too large), 501
// (a transfer coding not understood), 505 (not HTTP/1.x) or 417 (an
// expectation other than 100-continue).

// headError is a request head that cannot be served: the status to answer
// and why.
type headError struct {
	status int
	msg    string
	silent bool // the connection closes without an answer
}

func (e *headError) Error() string { return e.msg }

func badHead(msg string) *headError { return &headError{status: http.StatusBadRequest, msg: msg} }

// headInfo is what the server needs of a head beyond the *http.Request.
type headInfo struct {
	chunked   bool // the body is chunked; else req.ContentLength bytes
	close     bool // the connection ends after this exchange
	expect100 bool // the client waits for 100 Continue before its body
}

// fieldValueByte reports the bytes a field value may hold (RFC 9110 §5.5):
// visible ASCII, space, tab and obs-text.
func fieldValueByte(c byte) bool {
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f)
}

// parseHead parses head, one request line and its field lines through the
// empty line that ends them (CR LF CR LF included), into req. The
// request's strings share one copy of head. Body, ctx, RemoteAddr and the
// trailer values are the server's to set.
func parseHead(head []byte, req *http.Request) (headInfo, *headError) {
	var info headInfo
	// One string for the whole head: every name and value below is a
	// slice of it.
	s := string(head)
	eol := strings.Index(s, "\r\n")
	if eol < 0 || !strings.HasSuffix(s, "\r\n\r\n") || eol+2 > len(s)-2 {
		return info, badHead("malformed request line")
	}
	line := s[:eol]
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" {
		return info, badHead("malformed request line")
	}
	if !upstream.ValidToken(method) {
		return info, badHead("malformed method")
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c >= 0x7f {
			return info, badHead("malformed request target")
		}
	}
	if len(proto) < 5 || !strings.EqualFold(proto[:5], "HTTP/") {
		// Not HTTP at all (an HTTP/2 client's broken preface, say): no
		// HTTP/1.1 answer, which such a client would misread.
		return info, &headError{status: http.StatusBadRequest, msg: "not an HTTP/1.x request line", silent: true}
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return info, badHead("malformed HTTP version")
	}
	if major != 1 {
		return info, &headError{status: http.StatusHTTPVersionNotSupported, msg: "unsupported HTTP version"}
	}

	*req = http.Request{
		Method:     method,
		RequestURI: target,
		Proto:      proto,
		ProtoMajor: 1,
		ProtoMinor: minor,
	}

	// Count the field lines first, to size the header map and one
	// backing array for all the values.
	fields := s[eol+2 : len(s)-2]
	n := strings.Count(fields, "\n")
	h := make(http.Header, n)
	values := make([]string, n)
	var (
		hosts, cls, tes int
		host, cl        string
		te              string
		conn            []string
		expect          string
		expects         int
		trailer         bool
	)
	for fields != "" {
		i := strings.Index(fields, "\r\n")
		if i < 0 {
			return info, badHead("malformed header line")
		}
		fl := fields[:i]
		fields = fields[i+2:]
		name, v, herr := parseField(fl)
		if herr != nil {
			return info, herr
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			hosts++
			host = v
			continue // net/http keeps Host out of r.Header too
		case "Content-Length":
			cls++
			if cls > 1 && v != cl {
				return info, badHead("the request has differing Content-Length fields")
			}
			cl = v
			if cls > 1 {
				continue // one value kept, as net/http does
			}
		case "Transfer-Encoding":
			tes++
			te = v
		case "Connection":
			conn = append(conn, v)
		case "Expect":
			expects++
			expect = v
		case "Trailer":
			trailer = true
		}
		vs := h[key]
		if vs == nil && len(values) > 0 {
			vs, values = values[:1:1], values[1:]
			vs[0] = v
		} else {
			vs = append(vs, v)
		}
		h[key] = vs
	}
	req.Header = h

	if hosts > 1 {
		return info, badHead("the request has more than one Host field")
	}
	if hosts == 0 && minor >= 1 {
		return info, badHead("missing Host header")
	}
	if !validHost(host) {
		return info, badHead("malformed Host header")
	}

	// The request target (RFC 9112 §3.2).
	switch {
	case method == http.MethodConnect:
		if !strings.HasPrefix(target, "/") {
			// The authority form, host:port and nothing else (RFC 9112
			// §3.2.3): no user info, path or query.
			if !validAuthority(target) {
				return info, badHead("malformed CONNECT target")
			}
			req.URL = &url.URL{Host: target}
			break
		}
		fallthrough
	default:
		if target == "*" && method != http.MethodOptions {
			return info, badHead("the asterisk form is for OPTIONS only")
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return info, badHead("malformed request target")
		}
		req.URL = u
	}
	req.Host = host
	if req.URL.Host != "" {
		req.Host = req.URL.Host // absolute form: its authority wins (§3.2.2)
	}

	// Framing (RFC 9112 §6).
	switch {
	case tes > 0 && cls > 0:
		return info, badHead("the request has both Content-Length and Transfer-Encoding")
	case tes > 0 && minor == 0:
		return info, badHead("an HTTP/1.0 request cannot use Transfer-Encoding")
	case tes > 1 || tes == 1 && !strings.EqualFold(te, "chunked"):
		return info, &headError{status: http.StatusNotImplemented, msg: "the only Transfer-Encoding accepted is chunked"}
	case tes == 1:
		info.chunked = true
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		delete(h, "Transfer-Encoding")
	case cls > 0:
		n, ok := parseLength(cl)
		if !ok {
			return info, badHead("malformed Content-Length")
		}
		req.ContentLength = n
	}
	if trailer && info.chunked {
		for _, v := range h["Trailer"] {
			for name := range strings.SplitSeq(v, ",") {
				if name = textproto.TrimString(name); name != "" {
					key := textproto.CanonicalMIMEHeaderKey(name)
					switch key {
					case "Transfer-Encoding", "Trailer", "Content-Length":
						// Framing cannot come after the body (RFC 9110
						// §6.5.1); net/http refuses these too.
						return info, badHead("bad trailer key " + key)
					}
					if req.Trailer == nil {
						req.Trailer = make(http.Header)
					}
					req.Trailer[key] = nil
				}
			}
		}
	}

	// Connection management (RFC 9112 §9.3).
	keepAlive := false
	for _, v := range conn {
		for opt := range strings.SplitSeq(v, ",") {
			opt = textproto.TrimString(opt)
			switch {
			case strings.EqualFold(opt, "close"):
				info.close = true
			case strings.EqualFold(opt, "keep-alive"):
				keepAlive = true
			}
		}
	}
	if minor == 0 && !keepAlive {
		info.close = true
	}
	req.Close = info.close

	if expects > 0 {
		if expects > 1 || !strings.EqualFold(expect, "100-continue") {
			return info, &headError{status: http.StatusExpectationFailed, msg: "the only expectation met is 100-continue"}
		}
		// An HTTP/1.0 client cannot take a 100 (RFC 9110 §10.1.1).
		info.expect100 = minor >= 1 && (info.chunked || req.ContentLength > 0)
		delete(h, "Expect")
	}
	return info, nil
}

// parseField parses one field line, without its CR LF: a token name, a
// colon right after it, and a value of field bytes, trimmed.
func parseField(fl string) (name, value string, herr *headError) {
	if fl == "" {
		return "", "", badHead("malformed header line")
	}
	if fl[0] == ' ' || fl[0] == '\t' {
		return "", "", badHead("obsolete line folding is not accepted")
	}
	colon := strings.IndexByte(fl, ':')
	if colon <= 0 {
		return "", "", badHead("malformed header line: no field name and colon")
	}
	name = fl[:colon]
	if !upstream.ValidToken(name) {
		return "", "", badHead("malformed header field name")
	}
	v := fl[colon+1:]
	for j := 0; j < len(v); j++ {
		if !fieldValueByte(v[j]) {
			return "", "", badHead("malformed header field value")
		}
	}
	return name, strings.Trim(v, " \t"), nil
}

// parseVersion parses "HTTP/x.y".
func parseVersion(p string) (major, minor int, ok bool) {
	if len(p) != len("HTTP/1.1") || p[:5] != "HTTP/" || p[6] != '.' || !isDigit(p[5]) || !isDigit(p[7]) {
		return 0, 0, false
	}
	return int(p[5] - '0'), int(p[7] - '0'), true
}

// parseLength parses a Content-Length value: decimal digits only, at most
// 18 of them (a length below 10^18, which int64 holds).
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// validHost reports whether h can be a Host field: the bytes of a
// uri-host and port (RFC 3986 §3.2.2), which leaves out white space,
// controls, "/", "?", "#", "@" and anything that is not ASCII.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:[]%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validAuthority reports whether t is host:port, the authority form of a
// CONNECT target: a port of digits, and a host with no percent-encoding.
func validAuthority(t string) bool {
	host, port, err := net.SplitHostPort(t)
	if err != nil || host == "" || port == "" || len(port) > 5 || !validHost(host) || strings.IndexByte(host, '%') >= 0 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if !isDigit(port[i]) {
			return false
		}
	}
	if t[0] == '[' {
		// Brackets hold an IPv6 address and nothing else (RFC 3986 §3.2.2).
		a, err := netip.ParseAddr(host)
		return err == nil && a.Is6() && !a.Is4In6()
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// headEnd returns the length of the head at the start of b (through its
// CR LF CR LF), or -1 when b does not hold a whole head yet. from is where
// the search may start: bytes before it were searched already.
func headEnd(b []byte, from int) int {
	from = max(from-3, 0)
	i := bytes.Index(b[from:], []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return from + i + 4
}
