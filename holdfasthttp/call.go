package holdfasthttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// call is one RoundTrip: the request, how each attempt gets its body, and
// every response the attempts brought back, so that each one not returned
// is discarded exactly once.
type call struct {
	t   *Transport
	req *http.Request
	ctx context.Context // the request's

	// Set by prepareBody, read-only after.
	replayableBody bool   // every attempt can have the body
	buffered       bool   // the body is data
	data           []byte // the whole body, when buffered
	single         bool   // at most one attempt may be sent

	sent atomic.Int32 // attempts begun

	// mu guards orig, done and resps.
	mu sync.Mutex
	// orig is the body to hand to the first attempt that takes it: the
	// request's own (or, when too large to buffer, what was read of it and
	// the rest); nil once taken, or when there is none.
	orig io.ReadCloser
	// done is set when the call is decided; from then on an attempt that
	// comes back discards its own response.
	done  bool
	resps []tracked
}

// tracked is a response an attempt brought back.
type tracked struct {
	resp      *http.Response
	failed    bool // its status is a failure
	discarded bool // drained and closed already
}

// prepareBody decides how attempts get the request body, reading it into
// memory when it may be replayed and is small enough. On error the body is
// closed.
func (c *call) prepareBody(replay bool) error {
	r := c.req
	switch {
	case r.Body == nil || r.Body == http.NoBody:
		c.replayableBody = true
	case !replay:
		c.orig = r.Body // sent once: no need to keep a copy
	case r.GetBody != nil:
		c.orig, c.replayableBody = r.Body, true
	case c.t.maxReplay < 0 || r.ContentLength > c.t.maxReplay:
		c.orig = r.Body
	default:
		data, stream, err := bufferBody(r, c.t.maxReplay)
		if err != nil {
			return err
		}
		if stream != nil {
			c.orig = stream
			return nil
		}
		c.data, c.buffered, c.replayableBody = data, true, true
	}
	return nil
}

// attempt sends the request once, under the policies' context pctx, and
// judges the response by Outcome.
func (c *call) attempt(pctx context.Context) (*http.Response, error) {
	n := c.sent.Add(1)
	if n > 1 {
		if c.single {
			return nil, holdfast.Permanent(errSentOnce)
		}
		// An attempt that failed before this one began is not the last
		// attempt: its connection can go back to the pool now rather than
		// when the call ends.
		c.discardFailed()
	}

	// The attempt's own context follows pctx until the response headers
	// arrive and the request's context after, so that the body outlives
	// the policies' context (cancelled when a timeout or hedge returns).
	// When pctx is the request's context, there is nothing to separate.
	actx := c.ctx
	var cancel context.CancelCauseFunc
	var stop func() bool
	if pctx != c.ctx {
		actx, cancel = context.WithCancelCause(c.ctx)
		stop = context.AfterFunc(pctx, func() { cancel(context.Cause(pctx)) })
	}
	out, err := c.outRequest(actx, n)
	if err != nil {
		if stop != nil {
			stop()
			cancel(nil)
		}
		return nil, err
	}
	resp, err := c.t.next.RoundTrip(out)
	if stop != nil {
		if !stop() {
			// pctx ended while the request was in flight and the attempt's
			// context is cancelled with it: what came back is cut off.
			if resp != nil {
				resp.Body.Close()
			}
			return nil, ctxError(pctx)
		}
		if err != nil || resp == nil {
			cancel(nil)
		} else {
			resp.Body = withCancel(resp.Body, cancel)
		}
	}
	if err != nil {
		if cerr := c.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// The transport reports the context's cause, which need not
			// say that the caller gave up; say it, so that no policy
			// counts it against the server.
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return nil, Outcome(nil, err, time.Time{})
	}
	if resp == nil {
		return nil, fmt.Errorf("holdfasthttp: %T returned neither a response nor an error", c.t.next)
	}
	oerr := Outcome(resp, nil, time.Now())
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		discard(resp)
		return nil, errCallOver
	}
	c.resps = append(c.resps, tracked{resp: resp, failed: oerr != nil})
	c.mu.Unlock()
	return resp, oerr
}

// withCancel makes closing body end the attempt's context too.
func withCancel(body io.ReadCloser, cancel context.CancelCauseFunc) io.ReadCloser {
	if rw, ok := body.(io.ReadWriteCloser); ok {
		return &cancelRWBody{ReadWriteCloser: rw, cancel: cancel}
	}
	return &cancelBody{ReadCloser: body, cancel: cancel}
}

// ctxError is the error of an attempt whose policies' context ctx ended: one
// that matches both ctx.Err() and its cause, such as timeout.ErrTimeout or a
// hedge's hedge.ErrLost, so that a retry sees a deadline as a deadline and a
// breaker sees a cancellation as one.
func ctxError(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if errors.Is(cause, err) {
		return cause
	}
	return fmt.Errorf("%w: %w", err, cause)
}

// outRequest builds the request of attempt n under ctx.
func (c *call) outRequest(ctx context.Context, n int32) (*http.Request, error) {
	r := c.req
	if c.buffered {
		out := r.Clone(ctx)
		data := c.data
		out.Body = http.NoBody
		if len(data) > 0 {
			out.Body = io.NopCloser(bytes.NewReader(data))
		}
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		out.ContentLength = int64(len(data))
		if len(r.Trailer) > 0 {
			out.ContentLength = -1 // chunked, so that the trailers can follow
		}
		return out, nil
	}
	if r.Body == nil || r.Body == http.NoBody {
		if ctx == c.ctx && n == 1 {
			return r, nil // the request as it was given
		}
		return r.Clone(ctx), nil
	}
	c.mu.Lock()
	body := c.orig
	c.orig = nil
	c.mu.Unlock()
	if body == nil {
		// An earlier attempt took the request's body.
		if r.GetBody == nil {
			return nil, holdfast.Permanent(errSentOnce)
		}
		b, err := r.GetBody()
		if err != nil {
			return nil, holdfast.Permanent(fmt.Errorf("holdfasthttp: GetBody: %w", err))
		}
		body = b
	}
	if ctx == c.ctx && body == r.Body {
		return r, nil
	}
	out := r.Clone(ctx)
	out.Body = body
	return out, nil
}

// discardFailed discards the failed responses brought back so far.
func (c *call) discardFailed() {
	var drop []*http.Response
	c.mu.Lock()
	if !c.done {
		for i := range c.resps {
			if t := &c.resps[i]; t.failed && !t.discarded {
				t.discarded = true
				drop = append(drop, t.resp)
			}
		}
	}
	c.mu.Unlock()
	for _, resp := range drop {
		discard(resp)
	}
}

// finish turns what the pipeline returned into RoundTrip's result, and
// discards every response brought back that is not returned.
func (c *call) finish(out *http.Response, err error) (*http.Response, error) {
	c.mu.Lock()
	c.done = true
	resps := c.resps
	body := c.orig
	c.orig = nil
	c.mu.Unlock()
	if body != nil {
		body.Close() // no attempt took it; a RoundTripper closes it anyway
	}

	// ret is the response to return: the pipeline's on success; when the
	// policies gave up on a failure status, that response, as a plain
	// transport would have returned it. Either must still be whole.
	var ret *http.Response
	if err == nil {
		ret = out
		if t := lookup(resps, out); out == nil || t != nil && t.discarded {
			// No response, or one of ours taken for a success after it
			// was discarded, by a policy that made its failure a success.
			ret, err = nil, errNoResponse
		}
	} else if se := (*StatusError)(nil); errors.As(err, &se) {
		if t := lookup(resps, se.resp); t != nil && !t.discarded {
			ret, err = se.resp, nil
		}
	}
	for _, t := range resps {
		if t.resp != ret && !t.discarded {
			discard(t.resp)
		}
	}
	if err != nil {
		if out != nil && lookup(resps, out) == nil && out.Body != nil {
			out.Body.Close() // not ours, such as a fallback's value given with an error
		}
		return nil, err
	}
	return ret, nil
}

// lookup returns the entry of resp in resps, or nil.
func lookup(resps []tracked, resp *http.Response) *tracked {
	if resp == nil {
		return nil
	}
	for i := range resps {
		if resps[i].resp == resp {
			return &resps[i]
		}
	}
	return nil
}
