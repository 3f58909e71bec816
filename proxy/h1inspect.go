package proxy

import (
	"bytes"
	"context"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// A request stream on an HTTP/1 connection is framed by every hop that
// reads it, and a request is smuggled when two hops disagree on where one
// request ends and the next begins (RFC 9112 §11.2). net/http's server
// resolves the classic ambiguities quietly instead of refusing them: given
// both Content-Length and Transfer-Encoding it drops Content-Length, and it
// ignores (and deletes) Transfer-Encoding on an HTTP/1.0 request, so bytes
// that a hop in front of holdfast took for one request's body net/http
// serves as the next request, and a handler cannot even see that it
// happened. RFC 9112 §6.1 and §6.3 ask a server to answer such requests
// 400 and close the connection.
//
// So every data-plane connection is an inspectConn: it sees the bytes as
// net/http reads them and frames the stream itself with an h1Framer, which
// records, for each request head, a verdict: whether the head was
// ambiguous, what method and target it carried, how long its body is, and
// how many header fields it had. The handler takes the verdict for its
// request (see [Proxy.screenRequest]); a missing verdict, or one whose
// method, target or body length is not net/http's, means the two framings
// disagree, and the request is refused the same way: fail closed.
//
// The framer follows net/http's reading rules exactly where net/http
// accepts a request (bare LF line ends in the head, obsolete line folding,
// chunk extensions and trailers, the CR LF it skips after a POST), and it
// never holds more than a few dozen bytes of a head: the method and target
// go into a running hash, and only the start of a field name and the
// values of Content-Length and Transfer-Encoding are kept. Where net/http
// refuses a request it closes the connection, so there the framer need not
// agree; it stops (is lost) at anything it cannot frame.

// inspectListener wraps each connection it accepts in an [inspectConn].
type inspectListener struct{ net.Listener }

func (l inspectListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ic := &inspectConn{Conn: c}
	ic.fr.init(&ic.q)
	return ic, nil
}

// inspectConn is a client connection whose request stream is framed as it
// is read. net/http never calls Read from two goroutines at once, and the
// framer is used only by Read; the verdicts it leaves are read by handlers,
// so they sit in a locked queue. It must not be copied.
type inspectConn struct {
	net.Conn
	// aside is set once the connection stops being an HTTP/1 request
	// stream: HTTP/2 with prior knowledge, or hijacked for an upgrade.
	aside atomic.Bool
	fr    h1Framer
	q     verdictQueue
}

func (c *inspectConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.aside.Load() {
		c.fr.feed(p[:n])
		if c.fr.st == stAside {
			c.aside.Store(true)
		}
	}
	return n, err
}

// stepAside stops the framing: the bytes that follow are another
// protocol's.
func (c *inspectConn) stepAside() {
	c.aside.Store(true)
	c.q.end()
}

// CloseWrite half-closes the connection, which net/http does after an
// error reply so that the client reads it before the connection goes.
func (c *inspectConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) for what
// is written to it; only what is read is framed.
func (c *inspectConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

type inspectorKey struct{}

// withInspector is the data-plane servers' ConnContext: it makes the
// connection's inspector reachable from its requests' contexts.
func withInspector(ctx context.Context, c net.Conn) context.Context {
	if ic, ok := c.(*inspectConn); ok {
		return context.WithValue(ctx, inspectorKey{}, ic)
	}
	return ctx
}

// stepAsideOnHijack is the data-plane servers' ConnState: past a hijack the
// connection carries the upgraded protocol, not requests.
func stepAsideOnHijack(c net.Conn, s http.ConnState) {
	if ic, ok := c.(*inspectConn); ok && s == http.StateHijacked {
		ic.stepAside()
	}
}

// inspectorOf returns the inspector of the connection r came on, or nil
// when the server has none (a Proxy served by another http.Server).
func inspectorOf(r *http.Request) *inspectConn {
	ic, _ := r.Context().Value(inspectorKey{}).(*inspectConn)
	return ic
}

// flaw is a bit set of what makes a request head ambiguous.
type flaw uint8

const (
	// flawCLAndTE: both Content-Length and Transfer-Encoding (RFC 9112
	// §6.3 ¶3: "ought to be handled as an error").
	flawCLAndTE flaw = 1 << iota
	// flawTEOnHTTP10: Transfer-Encoding on an HTTP/1.0 request (RFC 9112
	// §6.1 ¶16: such a message is to be treated as faulty).
	flawTEOnHTTP10
	// flawTENotChunked: a Transfer-Encoding other than exactly one
	// "chunked" (RFC 9112 §6.3 ¶4: the length cannot be determined).
	flawTENotChunked
	// flawVersion: not HTTP/1.x.
	flawVersion
)

// message explains the first flaw of f.
func (f flaw) message() string {
	switch {
	case f&flawCLAndTE != 0:
		return "the request has both Content-Length and Transfer-Encoding"
	case f&flawTEOnHTTP10 != 0:
		return "an HTTP/1.0 request cannot use Transfer-Encoding"
	case f&flawTENotChunked != 0:
		return "the only Transfer-Encoding accepted is chunked"
	}
	return "unsupported HTTP version"
}

// verdict is what the framer saw of one request head.
type verdict struct {
	target uint64 // targetHash of the method and request-target
	length int64  // the body length as framed: -1 chunked, else Content-Length or 0
	fields int32  // header field lines (a folded line is part of its field)
	flaw   flaw
}

// framerSeed keys the hash of method and target, so that a client cannot
// choose two targets whose hashes collide.
var framerSeed = maphash.MakeSeed()

// targetHash returns the hash a verdict holds for a request line's method
// and target, r.Method and r.RequestURI.
func targetHash(method, target string) uint64 {
	var h maphash.Hash
	h.SetSeed(framerSeed)
	h.WriteString(method)
	h.WriteByte(' ')
	h.WriteString(target)
	return h.Sum64()
}

// maxPendingHeads bounds the verdicts waiting for their handlers. net/http
// reads at most its 4 KiB buffer ahead of the request it serves, which
// holds fewer than 300 of the smallest heads; a framer this far ahead has
// lost the stream.
const maxPendingHeads = 1024

// verdictQueue holds verdicts from the framer until the handlers of their
// requests take them, in order. It is safe for concurrent use.
type verdictQueue struct {
	mu sync.Mutex
	// mu guards q, head and ended.
	q     []verdict // q[head:] are pending
	head  int
	ended bool // no verdict will come: the framer is lost or stepped aside
	buf   [4]verdict
}

func (q *verdictQueue) push(v verdict) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ended {
		return
	}
	if q.q == nil {
		q.q = q.buf[:0]
	}
	if len(q.q)-q.head >= maxPendingHeads {
		q.ended = true
		return
	}
	if len(q.q) == cap(q.q) && q.head > 0 {
		n := copy(q.q, q.q[q.head:])
		q.q, q.head = q.q[:n], 0
	}
	q.q = append(q.q, v)
}

// end records that no verdict will come after those pending.
func (q *verdictQueue) end() {
	q.mu.Lock()
	q.ended = true
	q.mu.Unlock()
}

// next returns the verdict on the next request head, or false when there
// is none: the framer is lost, stepped aside, or disagrees with net/http on
// where the heads are.
func (q *verdictQueue) next() (verdict, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.q) {
		return verdict{}, false
	}
	v := q.q[q.head]
	q.head++
	if q.head == len(q.q) {
		q.q, q.head = q.q[:0], 0
	}
	return v, true
}

// framerState is where an h1Framer is in the stream.
type framerState uint8

const (
	stStart      framerState = iota // before a request line
	stMethod                        // in the method
	stTarget                        // in the request-target
	stProto                         // in the HTTP version
	stLineStart                     // at the start of a field line, or the empty line
	stName                          // in a field name
	stValue                         // in a field value
	stOtherValue                    // in a value the framer does not need
	stCR                            // after a CR, which must end the line
	stBody                          // in a Content-Length body
	stChunkSize                     // in a chunk size
	stChunkWS                       // in white space after a chunk size
	stChunkExt                      // in a chunk extension
	stChunkLF                       // after the CR of a chunk line
	stChunkData                     // in chunk data
	stChunkEnd                      // after chunk data: CR LF due
	stChunkEndLF                    // after chunk data and CR: LF due
	stAside                         // not an HTTP/1 request stream any more
	stLost                          // cannot frame what follows
)

// field kinds
const (
	fieldOther = iota
	fieldCL
	fieldTE
)

// h1Framer frames an HTTP/1 request stream fed to it in pieces of any
// size, as net/http's server reads it (see the comment at the top of this
// file), and pushes a verdict per request head to its queue. Its zero value
// is not ready: call init.
type h1Framer struct {
	q       *verdictQueue
	st      framerState
	ret     framerState // the state whose line a CR LF ends
	skip    uint8       // CR or LF bytes net/http skips before this request line
	started bool        // a request line has been read

	h      maphash.Hash // of "method SP target"
	n      int          // bytes in the current method, target, version or name
	method [4]byte
	star   bool // the target is "*"
	proto  [8]byte
	post   bool // the request's method is POST
	pri    bool // the request's method is PRI
	v      verdict
	http10 bool

	trailer bool // the field lines are a trailer section
	first   bool // no field line yet in this section
	kind    int  // of the current field
	name    [len("transfer-encoding")]byte

	// The value of the current Content-Length or Transfer-Encoding field,
	// as textproto assembles it: trimmed, and a folded line joined by one
	// space.
	vEmpty bool
	vPend  bool // white space seen that is inside the value if more follows

	teCount   int
	teLen     int  // bytes of the current value
	teMatch   bool // the current value so far matches "chunked"
	teChunked bool // the one value was "chunked"

	clCount  int
	clBad    bool
	clDigits int
	clSpace  bool // white space after the digits
	clCur    uint64
	cl       uint64

	remain uint64 // of the Content-Length body or the chunk
	digits int    // of the chunk size
}

func (f *h1Framer) init(q *verdictQueue) {
	f.q = q
	f.h.SetSeed(framerSeed)
}

// lose stops the framer: what follows cannot be framed.
func (f *h1Framer) lose() {
	f.st = stLost
	f.q.end()
}

// feed frames p, the next bytes of the stream.
func (f *h1Framer) feed(p []byte) {
	for i := 0; i < len(p); {
		switch f.st {
		case stAside, stLost:
			return

		case stStart:
			if c := p[i]; f.skip > 0 && (c == '\r' || c == '\n') {
				// net/http's server skips up to 4 of these after a POST,
				// for old clients that end a body with CR LF
				// (RFC 9112 §2.2).
				f.skip--
				i++
				continue
			}
			f.beginRequest()

		case stMethod:
			j := i
			for j < len(p) && p[j] != ' ' && p[j] != '\r' && p[j] != '\n' {
				if f.n < len(f.method) {
					f.method[f.n] = p[j]
				}
				f.n++
				j++
			}
			f.h.Write(p[i:j])
			if i = j; i == len(p) {
				return
			}
			if p[i] != ' ' {
				f.lose() // no target: net/http refuses the line
				return
			}
			i++
			f.h.WriteByte(' ')
			f.post = f.n == 4 && string(f.method[:]) == "POST"
			f.pri = f.n == 3 && string(f.method[:3]) == "PRI"
			f.n, f.st = 0, stTarget

		case stTarget:
			j := i
			for j < len(p) && p[j] != ' ' && p[j] != '\r' && p[j] != '\n' {
				j++
			}
			if j > i {
				f.star = f.n == 0 && j-i == 1 && p[i] == '*'
				f.n += j - i
				f.h.Write(p[i:j])
			}
			if i = j; i == len(p) {
				return
			}
			if p[i] != ' ' {
				f.lose()
				return
			}
			i++
			f.n, f.st = 0, stProto

		case stProto:
			c := p[i]
			i++
			switch c {
			case '\r':
				f.ret, f.st = stProto, stCR
			case '\n':
				f.endRequestLine()
			default:
				if f.n < len(f.proto) {
					f.proto[f.n] = c
				}
				f.n++
			}

		case stCR:
			if p[i] != '\n' {
				// A CR inside a line: net/http refuses it in every
				// part of a head.
				f.lose()
				return
			}
			i++
			switch f.ret {
			case stProto:
				f.endRequestLine()
			case stLineStart:
				f.endSection()
			default:
				f.endValueLine()
			}

		case stLineStart:
			switch c := p[i]; c {
			case '\n':
				i++
				f.endSection()
			case '\r':
				i++
				f.ret, f.st = stLineStart, stCR
			case ' ', '\t':
				if f.first {
					f.lose() // net/http: "malformed MIME header initial line"
					return
				}
				// Obsolete line folding (RFC 9112 §5.2): the value goes
				// on, joined by one space.
				f.foldValue()
			default:
				f.beginField()
			}

		case stName:
			j := i
			for j < len(p) && p[j] != ':' && p[j] != '\r' && p[j] != '\n' {
				if f.n < len(f.name) {
					f.name[f.n] = lower(p[j])
				}
				f.n++
				j++
			}
			if i = j; i == len(p) {
				return
			}
			if p[i] != ':' {
				f.lose() // net/http: "missing colon"
				return
			}
			i++
			f.endName()

		case stOtherValue:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				return
			}
			i += j + 1
			f.endValueLine()

		case stValue:
			for ; i < len(p); i++ {
				c := p[i]
				if c == '\r' {
					i++
					f.ret, f.st = stValue, stCR
					break
				}
				if c == '\n' {
					i++
					f.endValueLine()
					break
				}
				f.valueByte(c)
			}

		case stBody:
			k := uint64(len(p) - i)
			if k >= f.remain {
				i += int(f.remain)
				f.endRequest()
				continue
			}
			f.remain -= k
			return

		case stChunkSize:
			c := p[i]
			i++
			switch d := unhexByte(c); {
			case d >= 0:
				if f.digits == 16 {
					f.lose() // net/http: "http chunk length too large"
					return
				}
				f.remain = f.remain<<4 | uint64(d)
				f.digits++
			case f.digits == 0:
				f.lose()
				return
			case c == ';':
				f.st = stChunkExt
			case c == ' ' || c == '\t':
				f.st = stChunkWS
			case c == '\r':
				f.st = stChunkLF
			default:
				f.lose() // including a bare LF, which net/http refuses here
				return
			}

		case stChunkWS:
			c := p[i]
			i++
			switch c {
			case ' ', '\t':
			case '\r':
				f.st = stChunkLF
			default:
				f.lose()
				return
			}

		case stChunkExt:
			j := i
			for j < len(p) && p[j] != '\r' && p[j] != '\n' {
				j++
			}
			if i = j; i == len(p) {
				return
			}
			if p[i] == '\n' {
				f.lose()
				return
			}
			i++
			f.st = stChunkLF

		case stChunkLF:
			if p[i] != '\n' {
				f.lose()
				return
			}
			i++
			if f.remain == 0 {
				f.beginSection(true)
			} else {
				f.st = stChunkData
			}

		case stChunkData:
			k := uint64(len(p) - i)
			if k >= f.remain {
				i += int(f.remain)
				f.remain = 0
				f.st = stChunkEnd
				continue
			}
			f.remain -= k
			return

		case stChunkEnd, stChunkEndLF:
			want := byte('\r')
			if f.st == stChunkEndLF {
				want = '\n'
			}
			if p[i] != want {
				f.lose() // net/http: "malformed chunked encoding"
				return
			}
			i++
			if f.st == stChunkEnd {
				f.st = stChunkEndLF
			} else {
				f.digits, f.st = 0, stChunkSize
			}
		}
	}
}

func (f *h1Framer) beginRequest() {
	f.h.Reset()
	f.v = verdict{}
	f.n, f.star, f.post, f.pri = 0, false, false, false
	f.teCount, f.teChunked, f.clCount, f.clBad, f.cl = 0, false, 0, false, 0
	f.st = stMethod
}

func (f *h1Framer) endRequestLine() {
	pr := &f.proto
	if f.n != len(pr) || string(pr[:5]) != "HTTP/" || !isDigit(pr[5]) || pr[6] != '.' || !isDigit(pr[7]) {
		f.lose() // net/http: "malformed HTTP version"
		return
	}
	major, minor := pr[5]-'0', pr[7]-'0'
	if !f.started && major == 2 && minor == 0 && f.star && f.pri {
		// The HTTP/2 connection preface (RFC 9113 §3.4): net/http serves
		// the connection as h2c from here.
		f.st = stAside
		f.q.end()
		return
	}
	f.started = true
	if major != 1 {
		f.v.flaw |= flawVersion
	}
	f.http10 = major == 1 && minor == 0
	f.beginSection(false)
}

func (f *h1Framer) beginSection(trailer bool) {
	f.trailer, f.first, f.kind = trailer, true, fieldOther
	f.st = stLineStart
}

func (f *h1Framer) beginField() {
	f.endField()
	f.first = false
	if !f.trailer && f.v.fields < 1<<31-1 {
		f.v.fields++
	}
	f.n, f.st = 0, stName
}

func (f *h1Framer) endName() {
	f.kind = fieldOther
	if !f.trailer {
		switch string(f.name[:min(f.n, len(f.name))]) {
		case "content-length":
			if f.n == len("content-length") {
				f.kind = fieldCL
				f.clCount++
				f.clDigits, f.clSpace, f.clCur = 0, false, 0
			}
		case "transfer-encoding":
			if f.n == len("transfer-encoding") {
				f.kind = fieldTE
				f.teCount++
				f.teLen, f.teMatch = 0, true
			}
		}
	}
	if f.kind == fieldOther {
		f.st = stOtherValue
		return
	}
	f.vEmpty, f.vPend = true, false
	f.st = stValue
}

// valueByte takes a byte of the current Content-Length or Transfer-Encoding
// line; white space is held until it is known not to be trailing.
func (f *h1Framer) valueByte(c byte) {
	if c == ' ' || c == '\t' {
		f.vPend = !f.vEmpty
		return
	}
	if f.vPend {
		f.emit(' ')
		f.vPend = false
	}
	f.emit(c)
	f.vEmpty = false
}

func (f *h1Framer) endValueLine() {
	f.vPend = false
	f.st = stLineStart
}

// foldValue starts a continuation line of the current field: textproto
// joins it to the value with one space, even when it is empty.
func (f *h1Framer) foldValue() {
	if f.kind == fieldOther {
		f.st = stOtherValue
		return
	}
	if !f.vEmpty {
		f.emit(' ')
	}
	f.vPend = false
	f.st = stValue
}

// emit takes a byte of the assembled value of the current field.
func (f *h1Framer) emit(c byte) {
	switch f.kind {
	case fieldTE:
		if f.teLen < len("chunked") && lower(c) == "chunked"[f.teLen] {
			f.teLen++
		} else {
			f.teMatch = false
		}
	case fieldCL:
		switch {
		case c == ' ':
			f.clSpace = f.clDigits > 0
		case isDigit(c) && !f.clSpace:
			d := uint64(c - '0')
			if f.clCur > (1<<63-1-d)/10 {
				f.clBad = true // net/http parses it into 63 bits
			}
			f.clCur = f.clCur*10 + d
			f.clDigits++
		default:
			f.clBad = true
		}
	}
}

// endField finishes the field whose value lines are over.
func (f *h1Framer) endField() {
	switch f.kind {
	case fieldTE:
		f.teChunked = f.teCount == 1 && f.teMatch && f.teLen == len("chunked")
	case fieldCL:
		switch {
		case f.clDigits == 0:
			f.clBad = true
		case f.clCount == 1:
			f.cl = f.clCur
		case f.clCur != f.cl:
			f.clBad = true // net/http refuses differing lengths
		}
	}
	f.kind = fieldOther
}

// endSection handles the empty line that ends a head or a trailer section.
func (f *h1Framer) endSection() {
	if f.trailer {
		f.endRequest()
		return
	}
	f.endField()
	if f.clBad {
		f.lose() // net/http refuses a malformed Content-Length
		return
	}
	v := &f.v
	if f.teCount > 0 {
		if f.clCount > 0 {
			v.flaw |= flawCLAndTE
		}
		switch {
		case f.http10:
			v.flaw |= flawTEOnHTTP10
		case !f.teChunked:
			v.flaw |= flawTENotChunked
		}
	}
	switch {
	case f.teCount > 0 && !f.http10:
		v.length = -1
	case f.clCount > 0:
		v.length = int64(f.cl)
	}
	v.target = f.h.Sum64()
	f.q.push(*v)
	switch {
	case v.flaw != 0:
		// The connection ends with this request's reply; nothing after
		// it is framed, or served.
		f.lose()
	case v.length < 0:
		f.remain, f.digits, f.st = 0, 0, stChunkSize
	case v.length > 0:
		f.remain, f.st = uint64(v.length), stBody
	default:
		f.endRequest()
	}
}

func (f *h1Framer) endRequest() {
	f.st, f.skip = stStart, 0
	if f.post {
		f.skip = 4
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// unhexByte returns the value of the hex digit c, or -1.
func unhexByte(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
