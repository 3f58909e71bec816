package proxy

import (
	"net/http"
	"strconv"
	"time"
)

// screenRequest checks r before it is routed, so that every hop reads it
// the same way: it answers, and returns false for, a request
//
//   - whose HTTP/1 framing is ambiguous (both Content-Length and
//     Transfer-Encoding, Transfer-Encoding on HTTP/1.0, or a head the
//     connection's framer and net/http split differently): 400, and the
//     connection is closed, since the bytes after it cannot be trusted to
//     be a request (RFC 9112 §6.1, §6.3, §11.2);
//   - with more header fields than limits.max_headers: 431.
//
// Otherwise it returns true. local writes a local reply.
func (p *Proxy) screenRequest(w http.ResponseWriter, r *http.Request, st *state, local func(status int, reason, msg string, retryAfter time.Duration)) bool {
	refuse := func(status int, reason, msg string) bool {
		if r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		local(status, reason, msg, 0)
		return false
	}
	if r.Method == "PRI" {
		// net/http passes "PRI * HTTP/2.0" to the handler when the rest
		// of the HTTP/2 preface does not follow it; it is not a request.
		return refuse(http.StatusBadRequest, ReasonInvalidRequest, "PRI is the HTTP/2 connection preface, not a request")
	}

	// Every HTTP/1 request takes its verdict, in order, whatever the
	// handler then does with it (CONNECT included): a verdict left behind
	// would be taken by the next request on the connection.
	fields := -1
	if r.ProtoMajor == 1 {
		if ic := inspectorOf(r); ic != nil {
			v, ok := ic.q.next()
			switch {
			case !ok || v.target != targetHash(r.Method, r.RequestURI) || v.length != r.ContentLength:
				return refuse(http.StatusBadRequest, ReasonInvalidRequest, "the request's framing is ambiguous")
			case v.flaw != 0:
				return refuse(http.StatusBadRequest, ReasonInvalidRequest, v.flaw.message())
			}
			fields = int(v.fields)
		}
	}
	if fields < 0 {
		fields = headerFields(r)
	}
	if limit := st.cfg.Limits.MaxHeaders; limit > 0 && fields > limit {
		local(http.StatusRequestHeaderFieldsTooLarge, ReasonTooManyHeaders,
			"the request has "+strconv.Itoa(fields)+" header fields; the limit is "+strconv.Itoa(limit), 0)
		return false
	}
	return true
}

// headerFields counts the header fields of r as net/http left them, for a
// request no framer saw (HTTP/2, or a server without the inspector).
func headerFields(r *http.Request) int {
	n := 0
	for _, vs := range r.Header {
		n += len(vs)
	}
	if r.ProtoMajor == 1 && r.Host != "" {
		n++ // net/http moves Host out of r.Header
	}
	return n
}
