package upstream

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// head is what writeHead announced about the body to follow.
type head struct {
	body     bool     // a body follows the head
	chunked  bool     // ... in chunked coding; else ContentLength bytes
	trailers []string // declared trailer fields, canonical, in order
}

// writeHead writes req's request line and header fields to bw, without
// flushing. Framing fields of req.Header (Content-Length, Transfer-Encoding,
// Trailer) are never copied: the framing written is the one req's
// ContentLength and Trailer describe, so one message has one length.
func writeHead(bw *bufio.Writer, req *http.Request) (head, error) {
	var h head
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	writeRequestTarget(bw, req.URL)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if _, has := req.Header["Connection"]; req.Close && !has {
		bw.WriteString("Connection: close\r\n")
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	switch {
	case req.ContentLength > 0 && hasBody:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(req.ContentLength, 10))
		bw.WriteString("\r\n")
		h.body = true
	case req.ContentLength < 0 && hasBody:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		h.body, h.chunked = true, true
	case req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH":
		// Many servers want a length for these methods even when empty.
		bw.WriteString("Content-Length: 0\r\n")
	}
	if h.chunked && len(req.Trailer) > 0 {
		for k := range req.Trailer {
			k = textproto.CanonicalMIMEHeaderKey(k)
			if TrailerAllowed(k) {
				h.trailers = append(h.trailers, k)
			}
		}
		if len(h.trailers) > 0 {
			bw.WriteString("Trailer: ")
			bw.WriteString(strings.Join(h.trailers, ", "))
			bw.WriteString("\r\n")
		}
	}
	_, err := bw.WriteString("\r\n")
	return h, err
}

// copyBufs holds buffers for streaming request bodies.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeBody writes the body writeHead announced and flushes. A failure to
// read the body is a [*RequestBodyError]; any other error is the
// connection's.
func writeBody(bw *bufio.Writer, req *http.Request, h head) error {
	if req.GetBody == nil {
		// A streamed body may be slow to come: let the endpoint see the
		// request head now, as a client that sends it alone would.
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	src := &bodyReader{r: req.Body}
	var w io.Writer = bw
	var cw io.WriteCloser
	if h.chunked {
		cw = httputil.NewChunkedWriter(bw)
		w = cw
	}
	// Flush after every piece the body yields, so that a streamed body
	// reaches the endpoint as the client sends it instead of waiting in bw.
	w = flushWriter{w: w, bw: bw}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	if h.chunked {
		if _, err := io.CopyBuffer(w, src, *bp); err != nil {
			return src.blame(err)
		}
		cw.Close()
		for _, k := range h.trailers {
			for _, v := range req.Trailer[k] {
				if !validFieldValue(v) {
					continue
				}
				bw.WriteString(k)
				bw.WriteString(": ")
				bw.WriteString(v)
				bw.WriteString("\r\n")
			}
		}
		bw.WriteString("\r\n")
		return bw.Flush()
	}
	n, err := io.CopyBuffer(w, io.LimitReader(src, req.ContentLength), *bp)
	if err != nil {
		return src.blame(err)
	}
	if n < req.ContentLength {
		// The body ended before its declared length: the client's fault,
		// and the endpoint would wait for the rest.
		return &RequestBodyError{Err: io.ErrUnexpectedEOF}
	}
	return bw.Flush()
}

// bodyReader remembers a failed read of the request body, so that a copy
// error can be blamed on the body or on the connection.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// WriteTo lets io.CopyBuffer hand a replayable body (a bytes.Reader) over
// in one write.
func (b *bodyReader) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := b.r.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{b})
}

func (b *bodyReader) blame(err error) error {
	if b.err != nil {
		return &RequestBodyError{Err: b.err}
	}
	return err
}

// flushWriter writes to w and then flushes bw, the buffer under w.
type flushWriter struct {
	w  io.Writer
	bw *bufio.Writer
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.bw.Flush()
	}
	return n, err
}

// writeRequestTarget writes u.RequestURI() without building the string;
// validHeader refused opaque URLs.
func writeRequestTarget(bw *bufio.Writer, u *url.URL) {
	p := u.EscapedPath()
	if p == "" || (p[0] != '/' && p != "*") {
		bw.WriteByte('/') // origin-form starts with a slash (RFC 9112 §3.2.1)
	}
	bw.WriteString(p)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
}

// validHeader checks what writeHead will put on the wire: a field name or
// value, a method, host or query carrying CR or LF would let one request
// smuggle another, and other control characters are not HTTP.
func validHeader(req *http.Request) error {
	if !ValidToken(req.Method) {
		return errors.New("upstream: invalid method " + strconv.Quote(req.Method))
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validFieldValue(host) || strings.ContainsAny(host, " \t") {
		return errors.New("upstream: invalid host " + strconv.Quote(host))
	}
	if req.URL.Opaque != "" || strings.ContainsAny(req.URL.RawQuery, " \t\r\n\x00#") {
		return errors.New("upstream: invalid request target")
	}
	for k, vs := range req.Header {
		if !ValidToken(k) {
			return errors.New("upstream: invalid header field name " + strconv.Quote(k))
		}
		for _, v := range vs {
			if !validFieldValue(v) {
				return errors.New("upstream: invalid value for header field " + k)
			}
		}
	}
	return nil
}

// ValidToken reports whether s is an RFC 9110 token (§5.6.2): a method or a
// field name. The proxy's request parser and response writer use it too,
// so the data plane has one definition of a token.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !TokenChar(s[i]) {
			return false
		}
	}
	return true
}

// TokenChar reports whether c is a token character (tchar, RFC 9110 §5.6.2).
func TokenChar(c byte) bool { return tokenChars[c] }

var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validFieldValue reports whether v holds no control character other than
// HTAB (RFC 9110 §5.5): no CR or LF to end the field early, no NUL.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// TrailerAllowed reports whether a field named name (canonical form) may be
// sent in a trailer section. Fields that frame or route the message,
// control it, or carry credentials are never taken from a trailer
// (RFC 9110 §6.5.1), nor are hop-by-hop fields (§7.6.1).
func TrailerAllowed(name string) bool {
	switch name {
	case "Content-Length", "Transfer-Encoding", "Trailer", "Te", "Host",
		"Connection", "Keep-Alive", "Proxy-Connection", "Upgrade",
		"Authorization", "Proxy-Authorization", "Proxy-Authenticate", "Www-Authenticate",
		"Cookie", "Set-Cookie",
		"Content-Encoding", "Content-Type", "Content-Range",
		"Cache-Control", "Expect", "Max-Forwards", "Pragma", "Range",
		"Age", "Expires", "Date", "Location", "Retry-After", "Vary", "Warning":
		return false
	}
	return ValidToken(name)
}
