package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// reqBody is a request body prepared for one or more attempts. A body up to
// the route's replay limit is read in full so that retries and hedges can
// send it again; a larger one, or one of a request that may not be retried
// anyway, is streamed to a single attempt and never buffered.
type reqBody struct {
	data       []byte        // the whole body, when replayable
	stream     io.ReadCloser // the body to stream once, when not
	length     int64         // Content-Length to send; -1 when unknown
	replayable bool
	used       bool // the stream was handed to an attempt
	// trailers: the client declared request trailers. The body is then
	// sent without a Content-Length, so that HTTP/1.1 upstreams get it
	// chunked and the trailers can follow it.
	trailers bool
}

var errBodyConsumed = errors.New("proxy: request body already sent once and cannot be replayed")

// prepareBody reads r's body for replay when it is at most limit bytes and the
// request may be retried at all. An error means the client's body could not
// be read (too large, or the client went away).
func prepareBody(r *http.Request, limit int64, retryable bool) (*reqBody, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 && r.ProtoMajor == 1 && len(r.TransferEncoding) == 0 {
		return &reqBody{replayable: true, length: 0}, nil
	}
	if !retryable || r.ContentLength > limit {
		return &reqBody{stream: r.Body, length: r.ContentLength}, nil
	}
	buf := make([]byte, 0, min(limit+1, max(r.ContentLength+1, 512)))
	b := bytes.NewBuffer(buf)
	n, err := io.Copy(b, io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if n <= limit {
		return &reqBody{data: b.Bytes(), length: n, replayable: true, trailers: len(r.Trailer) > 0}, nil
	}
	// Larger than the replay limit: send what was read, then the rest.
	return &reqBody{
		stream: struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b.Bytes()), r.Body), r.Body},
		length: r.ContentLength,
	}, nil
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
		if b.trailers {
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
	return nil
}
