package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// head is what a test expects of one verdict.
type head struct {
	line   string // method SP target
	length int64
	fields int32
	flaw   flaw
}

// end is where a framer is after a whole stream.
type end int

const (
	between end = iota // between requests, ready for the next
	inside             // inside a request
	lost
	aside
)

func (e end) String() string {
	return [...]string{"between requests", "inside a request", "lost", "aside"}[e]
}

func (f *h1Framer) end() end {
	switch f.st {
	case stStart:
		return between
	case stLost:
		return lost
	case stAside:
		return aside
	}
	return inside
}

var framerTests = []struct {
	name  string
	in    string
	heads []head
	end   end
}{
	{"get", "GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
		[]head{{"GET /a?b=c", 0, 2, 0}}, between},
	{"bare LF line ends", "GET / HTTP/1.1\nHost: x\n\n",
		[]head{{"GET /", 0, 1, 0}}, between},
	{"pipelined", "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n",
		[]head{{"GET /1", 0, 1, 0}, {"HEAD /2", 0, 1, 0}}, between},
	{"content-length body", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nGET /xGET /n HTTP/1.1\r\nHost: x\r\n\r\n",
		[]head{{"POST /p", 6, 2, 0}, {"GET /n", 0, 1, 0}}, between},
	{"half a body", "PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
		[]head{{"PUT /p", 10, 2, 0}}, inside},
	{"chunked body, extensions, trailers",
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"5;name=\"v;x\"\r\nhello\r\nA \t\r\n0123456789\r\n000\r\nX-Sum: 1\r\n  folded\r\n\r\n" +
			"GET /after HTTP/1.1\r\nHost: x\r\n\r\n",
		[]head{{"POST /c", -1, 3, 0}, {"GET /after", 0, 1, 0}}, between},
	{"chunked, empty trailer by bare LF", "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		[]head{{"POST /c", -1, 2, 0}, {"GET /", 0, 1, 0}}, between},
	{"chunk size of 16 digits", "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000001\r\nx\r\n0\r\n\r\n",
		[]head{{"POST /c", -1, 1, 0}}, between},

	{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
		[]head{{"POST /", -1, 3, flawCLAndTE}}, lost},
	{"TE and CL", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
		[]head{{"POST /", -1, 2, flawCLAndTE}}, lost},
	{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /smuggled HTTP/1.1\r\n\r\n",
		[]head{{"POST /", 0, 1, flawTEOnHTTP10}}, lost},
	{"TE and CL on HTTP/1.0", "POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		[]head{{"POST /", 3, 2, flawCLAndTE | flawTEOnHTTP10}}, lost},
	{"TE gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		[]head{{"POST /", -1, 1, flawTENotChunked}}, lost},
	{"TE twice", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		[]head{{"POST /", -1, 2, flawTENotChunked}}, lost},
	{"TE folded after its value", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n \r\n\r\n",
		[]head{{"POST /", -1, 1, flawTENotChunked}}, lost},
	{"TE folded onto an empty value", "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked \r\n\r\n0\r\n\r\n",
		[]head{{"POST /", -1, 1, 0}}, between},
	{"HTTP/2.0 request line", "GET / HTTP/2.0\r\n\r\n",
		[]head{{"GET /", 0, 0, flawVersion}}, lost},
	{"PRI after a request", "GET / HTTP/1.1\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		[]head{{"GET /", 0, 0, 0}, {"PRI *", 0, 0, flawVersion}}, lost},

	{"h2c preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", nil, aside},
	{"CR LF after a POST", "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		[]head{{"POST /", 1, 1, 0}, {"GET /", 0, 0, 0}}, between},
	{"CR LF after a GET", "GET / HTTP/1.1\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		[]head{{"GET /", 0, 0, 0}}, lost},
	{"duplicate equal lengths", "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length:  2 \r\n\r\nxx",
		[]head{{"POST /", 2, 2, 0}}, between},
	{"length folded", "POST / HTTP/1.1\r\nContent-Length:\r\n\t2\r\n \r\n\r\nxx",
		[]head{{"POST /", 2, 1, 0}}, between},
	{"name with a space is another field", "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n",
		[]head{{"POST /", 0, 1, 0}}, between},
	{"folded line counts once", "GET / HTTP/1.1\r\nA: 1\r\n 2\r\nB: 3\r\nA: 4\r\n\r\n",
		[]head{{"GET /", 0, 3, 0}}, between},

	{"differing lengths", "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", nil, lost},
	{"length with a sign", "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n", nil, lost},
	{"length with a space inside", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", nil, lost},
	{"empty length", "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", nil, lost},
	{"length past 63 bits", "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", nil, lost},
	{"CR inside a length", "POST / HTTP/1.1\r\nContent-Length: 1\r2\r\n\r\n", nil, lost},
	{"no target", "GET\r\n\r\n", nil, lost},
	{"bad version", "GET / HTTP/1.10\r\n\r\n", nil, lost},
	{"first field folded", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", nil, lost},
	{"field without colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", nil, lost},
	// net/http refuses a CR in any value; the framer checks only the
	// values it reads, and leaves the others to net/http.
	{"CR in another value", "GET / HTTP/1.1\r\nA: b\r\r\n\r\n", []head{{"GET /", 0, 1, 0}}, between},
	{"chunk line with bare LF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
		[]head{{"POST /", -1, 1, 0}}, lost},
	{"space before a chunk extension", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n",
		[]head{{"POST /", -1, 1, 0}}, lost},
	{"chunk data overrun", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
		[]head{{"POST /", -1, 1, 0}}, lost},
	{"17 hex digits", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n",
		[]head{{"POST /", -1, 1, 0}}, lost},
	{"trailer folded first", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n X: y\r\n\r\n",
		[]head{{"POST /", -1, 1, 0}}, lost},
}

// frame feeds in to a new framer in pieces of size step (all at once when
// step is 0) and returns its verdicts and where it ended.
func frame(in []byte, step int) ([]verdict, end) {
	var q verdictQueue
	var f h1Framer
	f.init(&q)
	if step <= 0 {
		step = len(in) + 1
	}
	for i := 0; i < len(in); i += step {
		f.feed(in[i:min(i+step, len(in))])
	}
	var vs []verdict
	for {
		v, ok := q.next()
		if !ok {
			return vs, f.end()
		}
		vs = append(vs, v)
	}
}

func TestFramer(t *testing.T) {
	for _, tt := range framerTests {
		for _, step := range []int{0, 1, 7} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				vs, end := frame([]byte(tt.in), step)
				if end != tt.end {
					t.Errorf("framer ends %s; want %s", end, tt.end)
				}
				if len(vs) != len(tt.heads) {
					t.Fatalf("got %d verdicts %+v; want %d", len(vs), vs, len(tt.heads))
				}
				for i, want := range tt.heads {
					method, target, _ := strings.Cut(want.line, " ")
					got := vs[i]
					if got.target != targetHash(method, target) {
						t.Errorf("head %d: target hash is not that of %q", i, want.line)
					}
					if got.length != want.length || got.fields != want.fields || got.flaw != want.flaw {
						t.Errorf("head %d: got length %d, %d fields, flaw %b; want %d, %d, %b",
							i, got.length, got.fields, got.flaw, want.length, want.fields, want.flaw)
					}
				}
			})
		}
	}
}

// TestFramerPipelineDepth checks that verdicts of many pipelined heads wait
// in order for their handlers, past the queue's first array.
func TestFramerPipelineDepth(t *testing.T) {
	var in bytes.Buffer
	for i := range 50 {
		fmt.Fprintf(&in, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	var q verdictQueue
	var f h1Framer
	f.init(&q)
	f.feed(in.Bytes()[:in.Len()/2])
	for i := range 10 { // a handler or two runs while the rest arrives
		v, ok := q.next()
		if !ok || v.target != targetHash("GET", fmt.Sprintf("/%d", i)) {
			t.Fatalf("verdict %d: %+v, %v; want GET /%d", i, v, ok, i)
		}
	}
	f.feed(in.Bytes()[in.Len()/2:])
	for i := 10; i < 50; i++ {
		v, ok := q.next()
		if !ok || v.target != targetHash("GET", fmt.Sprintf("/%d", i)) {
			t.Fatalf("verdict %d: %+v, %v; want GET /%d", i, v, ok, i)
		}
	}
	if v, ok := q.next(); ok {
		t.Fatalf("verdict after the last head: %+v", v)
	}
}

// FuzzFramer checks the framer against net/http on the same bytes. The
// harness reads the stream as net/http's server does (http.ReadRequest in
// a loop, each body read to its end, the CR LF skipped after a POST) and
// stops where the server would stop serving the connection. Wherever Go
// reads a request the framer must have a verdict for it, with Go's method,
// target and body length unless the verdict is a flaw that closes the
// connection, and it must be between requests exactly where Go's body
// ends. The framer is fed one byte at a time, so the check covers every
// way a read can split the stream.
func FuzzFramer(f *testing.F) {
	for _, tt := range framerTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var q verdictQueue
		var fr h1Framer
		fr.init(&q)
		rd := bytes.NewReader(in)
		br := bufio.NewReader(rd) // 4 KiB, as the server's
		pos := func() int { return len(in) - rd.Len() - br.Buffered() }
		fed := 0
		// feedTo feeds the framer up to byte n and reports whether it
		// was between requests before n.
		feedTo := func(n int) (early bool) {
			for ; fed < n; fed++ {
				fr.feed(in[fed : fed+1])
				early = early || fed+1 < n && fr.end() == between
			}
			return early
		}
		lastMethod := ""
		for i := 0; ; i++ {
			if lastMethod == "POST" {
				peek, _ := br.Peek(4)
				br.Discard(numLeadingCRorLF(peek))
			}
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if i == 0 && req.Method == "PRI" && req.RequestURI == "*" && req.Proto == "HTTP/2.0" {
				feedTo(len(in))
				if fr.end() != aside {
					t.Fatalf("framer is %s after the h2c preface; want aside", fr.end())
				}
				return
			}
			headEnd := pos()
			feedTo(headEnd)
			v, ok := q.next()
			if !ok {
				t.Fatalf("request %d (%s %q): Go read it; the framer has no verdict (%s)", i, req.Method, req.RequestURI, fr.end())
			}
			if v.flaw != 0 {
				checkFlaw(t, req, v.flaw)
				return // the connection closes with this request's reply
			}
			if req.ProtoMajor != 1 {
				t.Fatalf("request %d: Go read %s; the framer has no version flaw", i, req.Proto)
			}
			if v.target != targetHash(req.Method, req.RequestURI) {
				t.Fatalf("request %d: the framer's target is not Go's %s %q", i, req.Method, req.RequestURI)
			}
			if v.length != req.ContentLength {
				t.Fatalf("request %d (%s %q): framer length %d; Go's %d", i, req.Method, req.RequestURI, v.length, req.ContentLength)
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return // the server closes a connection whose body broke
			}
			bodyEnd := pos()
			if feedTo(bodyEnd) {
				t.Fatalf("request %d (%s %q): the framer ended it before byte %d, where Go's body ends", i, req.Method, req.RequestURI, bodyEnd)
			}
			if got := fr.end(); got != between {
				t.Fatalf("request %d (%s %q): the framer is %s at byte %d, where Go's body ends", i, req.Method, req.RequestURI, got, bodyEnd)
			}
			lastMethod = req.Method
		}
	})
}

// checkFlaw fails unless flaws is true of req as Go read it.
func checkFlaw(t *testing.T, req *http.Request, flaws flaw) {
	t.Helper()
	if flaws&flawVersion != 0 && req.ProtoMajor == 1 {
		t.Fatalf("version flaw on %s", req.Proto)
	}
	if flaws&flawTEOnHTTP10 != 0 && (req.ProtoMajor != 1 || req.ProtoMinor != 0) {
		t.Fatalf("HTTP/1.0 flaw on %s", req.Proto)
	}
	if flaws&flawTENotChunked != 0 && req.ProtoAtLeast(1, 1) {
		t.Fatalf("Go read a request with a Transfer-Encoding the framer calls not chunked")
	}
	if flaws&flawCLAndTE != 0 && req.ProtoAtLeast(1, 1) && req.ContentLength != -1 {
		t.Fatalf("Go read a request the framer says has Transfer-Encoding as length %d", req.ContentLength)
	}
}

// numLeadingCRorLF is net/http's count of the CR and LF bytes it skips.
func numLeadingCRorLF(v []byte) int {
	n := 0
	for _, b := range v {
		if b != '\r' && b != '\n' {
			break
		}
		n++
	}
	return n
}

// replayConn is a net.Conn whose reads return msg again and again.
type replayConn struct {
	net.Conn
	msg []byte
}

func (c *replayConn) Read(p []byte) (int, error) { return copy(p, c.msg), nil }

// BenchmarkInspectKeepAliveGET measures the inspector's share of a
// keep-alive GET: framing the head as net/http reads it, and the handler
// taking the verdict and checking it against the request.
func BenchmarkInspectKeepAliveGET(b *testing.B) {
	msg := []byte("GET /catalog/items?page=2 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: bench/1.0\r\n" +
		"Accept: application/json\r\nAccept-Encoding: gzip\r\nX-Request-Id: 0b6f4c52-6c2b-4c49-9f6c-4a0a1c2f5e7d\r\n\r\n")
	ic := &inspectConn{Conn: &replayConn{msg: msg}}
	ic.fr.init(&ic.q)
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		ic.Read(buf)
		v, ok := ic.q.next()
		if !ok || v.target != targetHash("GET", "/catalog/items?page=2") || v.length != 0 {
			b.Fatal("wrong verdict")
		}
	}
}

// inspectorPair is an inspectConn over one end of a pipe, for tests that
// drive an http.Server by hand.
func inspectorPair(t *testing.T) (*inspectConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	ic := &inspectConn{Conn: a}
	ic.fr.init(&ic.q)
	return ic, b
}

// TestInspectConnStepsAside checks that the inspector stops framing once
// the connection is hijacked: the upgraded protocol's bytes are not
// requests, and ambiguous-looking ones must pass untouched.
func TestInspectConnStepsAside(t *testing.T) {
	ic, peer := inspectorPair(t)
	go io.WriteString(peer, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	buf := make([]byte, 4096)
	n, _ := ic.Read(buf)
	if _, ok := ic.q.next(); !ok || n == 0 {
		t.Fatal("no verdict for the upgrade request")
	}
	stepAsideOnHijack(ic, http.StateHijacked)
	tunnel := "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
	go io.WriteString(peer, tunnel)
	ic.SetReadDeadline(time.Now().Add(waitLimit))
	n, err := io.ReadFull(ic, buf[:len(tunnel)])
	if err != nil || string(buf[:n]) != tunnel {
		t.Fatalf("read %q, %v; want the tunnel's bytes", buf[:n], err)
	}
	if v, ok := ic.q.next(); ok {
		t.Errorf("the inspector framed hijacked bytes: %+v", v)
	}
}
