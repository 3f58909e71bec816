package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast/upstream"
)

// reqBody is a request body prepared for one or more attempts. A body up to
// the route's replay limit is read in full so that retries and hedges can
// send it again; a larger one, or one of a request that may not be retried
// anyway, is streamed to a single attempt and never buffered.
type reqBody struct {
	data       []byte      // the whole body, when replayable
	stream     *clientBody // the body to stream once, when not
	length     int64       // Content-Length to send; -1 when unknown
	replayable bool
	used       bool // the stream was handed to an attempt
	// trailers are the client's declared request trailers that may be
	// forwarded. With any, the body is sent without a Content-Length, so
	// that HTTP/1.1 upstreams get it chunked and the trailers can follow.
	trailers trailerFilter
	got      http.Header // the request's Trailer, where net/http puts what came
}

var errBodyConsumed = errors.New("proxy: request body already sent once and cannot be replayed")

// prepareBody reads r's body for replay when it is at most limit bytes and the
// request may be retried at all. An error means the client's body could not
// be read (too large, or the client went away).
// The trailers the client declared are taken here, before the body is read:
// net/http adds every trailer field that comes to r.Trailer, declared or not.
func prepareBody(w http.ResponseWriter, r *http.Request, limit int64, retryable bool) (*reqBody, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 && r.ProtoMajor == 1 && len(r.TransferEncoding) == 0 {
		return &reqBody{replayable: true, length: 0}, nil
	}
	tf := requestTrailers(r)
	if !retryable || r.ContentLength > limit {
		return &reqBody{stream: newClientBody(w, r), length: r.ContentLength, trailers: tf, got: r.Trailer}, nil
	}
	buf := make([]byte, 0, min(limit+1, max(r.ContentLength+1, 512)))
	b := bytes.NewBuffer(buf)
	n, err := io.Copy(b, io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if n <= limit {
		return &reqBody{data: b.Bytes(), length: n, replayable: true, trailers: tf, got: r.Trailer}, nil
	}
	// Larger than the replay limit: send what was read, then the rest.
	cb := newClientBody(w, r)
	cb.head = b.Bytes()
	return &reqBody{stream: cb, length: r.ContentLength, trailers: tf, got: r.Trailer}, nil
}

// attach sets out's body for one attempt. It fails when the body was
// streamed to an earlier attempt.
func (b *reqBody) attach(out *http.Request) error {
	if b.replayable {
		if len(b.data) == 0 {
			out.Body = http.NoBody
			out.ContentLength = 0
			return nil
		}
		data := b.data
		out.Body = io.NopCloser(bytes.NewReader(data))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		out.ContentLength = int64(len(data))
		// The body was read whole, so its trailers have come: forward the
		// declared ones that arrived.
		if t := b.trailers.pick(b.got); len(t) > 0 {
			out.Trailer = t
			out.ContentLength = -1
		}
		return nil
	}
	if b.used {
		return errBodyConsumed
	}
	b.used = true
	out.Body = b.stream
	out.ContentLength = b.length
	if len(b.trailers.declared) > 0 {
		// Announce the declared trailers in the head; their values are
		// filled in as the client's body ends (see clientBody.Read).
		out.Trailer = b.trailers.declared.Clone()
		out.ContentLength = -1
		b.stream.trailers = &streamTrailers{filter: b.trailers, got: b.got, out: out.Trailer}
	}
	return nil
}

// streamTrailers copies the trailers a streamed body's client sent, as far
// as the filter passes them, to the outgoing request's Trailer map the
// moment the body ends, which is when a RoundTripper reads them.
type streamTrailers struct {
	filter trailerFilter
	got    http.Header // the client request's Trailer
	out    http.Header // the outgoing request's Trailer
}

func (t *streamTrailers) fill() {
	for k := range t.out {
		delete(t.out, k)
	}
	for k, vs := range t.filter.pick(t.got) {
		t.out[k] = vs
	}
}

// abort ends the streamed body, if any, at once.
func (b *reqBody) abort() {
	if b.stream != nil {
		b.stream.abort()
	}
}

// clientFault returns the client's own failure behind an attempt's
// transport error, or nil when the upstream (or nothing) is to blame: the
// streamed body failed to read (malformed chunked coding, over the size
// limit, the client gone).
func (b *reqBody) clientFault(err error) error {
	var be *upstream.RequestBodyError
	if errors.As(err, &be) {
		return be.Err
	}
	if b.stream != nil {
		return b.stream.failure()
	}
	return nil
}

// finish ends the streamed body, if any, before the handler returns; see
// clientBody.finish.
func (b *reqBody) finish(w http.ResponseWriter) {
	if b.stream != nil {
		b.stream.finish(w)
	}
}

// clientBody is a client's request body streamed to one attempt. It
// remembers a failed read, which is the client's fault. The transport
// closes it from its writer's goroutine when the upstream answered before
// taking all of it; a read waiting on a stalled client must not hold that
// goroutine for long, so Close moves the client connection's read deadline
// close. The handler ends it with finish.
type clientBody struct {
	head     []byte // read already, sent first
	rc       io.ReadCloser
	w        http.ResponseWriter
	trailers *streamTrailers // nil without declared trailers
	h1       bool            // HTTP/1: the connection is the body's, and may need a lingering close

	err       atomic.Pointer[error] // the first failed read
	eof       atomic.Bool
	closeOnce sync.Once

	// mu serialises reads of rc (the transport's writer, then finish) and
	// guards finished.
	mu       sync.Mutex
	finished bool
}

// The lingering close of a body the upstream did not take (RFC 9112 §9.6):
// once the response is out, what the client still sends is read and
// dropped, up to lingerBytes or for lingerTime, so that a client still
// uploading reads the answer before the connection closes under it. A
// connection closed with unread data in its buffer is reset, and a reset can
// destroy the response the client has not read yet.
const (
	lingerTime  = time.Second
	lingerBytes = 4 << 20
)

var errBodyFinished = errors.New("proxy: request body ended by the handler")

func newClientBody(w http.ResponseWriter, r *http.Request) *clientBody {
	return &clientBody{rc: r.Body, w: w, h1: r.ProtoMajor == 1}
}

func (b *clientBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return 0, errBodyFinished
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		if b.trailers != nil {
			b.trailers.fill()
		}
		b.eof.Store(true)
	case err != nil:
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// failure returns the body's read error, or nil.
func (b *clientBody) failure() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Close is the transport's: the attempt is over. Unless the body was read
// to its end, a read still waiting on the client returns within
// lingerTime. The body stays open for finish.
func (b *clientBody) Close() error {
	b.closeOnce.Do(func() {
		if !b.eof.Load() {
			http.NewResponseController(b.w).SetReadDeadline(time.Now().Add(lingerTime))
		}
	})
	return nil
}

// finish is the handler's, once its response is written and before it
// returns (after which the connection may carry the next request): it
// flushes the response, drops what the client still sends of a body the
// upstream did not take (the lingering close above), and closes the body.
// A read by the transport's writer still under way is waited for; it ends
// within lingerTime of Close.
func (b *clientBody) finish(w http.ResponseWriter) {
	// Only HTTP/1 needs the lingering close: an HTTP/2 stream ends on its
	// own, and flushing there would turn a gRPC Trailers-Only reply into
	// headers without trailers.
	linger := b.h1 && !b.eof.Load()
	if linger {
		rc := http.NewResponseController(w)
		rc.Flush()
		rc.SetReadDeadline(time.Now().Add(lingerTime))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if linger && b.failure() == nil {
		io.CopyN(io.Discard, b.rc, lingerBytes)
	}
	b.rc.Close()
}

// abort closes the body without the lingering close, for a response that is
// broken on purpose: the connection is closed anyway.
func (b *clientBody) abort() {
	if !b.eof.Load() {
		http.NewResponseController(b.w).SetReadDeadline(time.Unix(1, 0))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished {
		b.finished = true
		b.rc.Close()
	}
}
