package holdfasthttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/holdfast-dev/holdfast"
)

// DefaultMaxReplayBody is the largest request body a [Transport] reads into
// memory by default so that it can send it again, as the proxy's
// retry.max_body_bytes.
const DefaultMaxReplayBody = 64 << 10

// maxDrain bounds what is read of a discarded response's body before it is
// closed. A short body read to its end lets the connection carry the next
// request; a longer one is not worth the wait, and closing it costs only the
// connection.
const maxDrain = 4 << 10

// TransportConfig configures a [Transport]. The zero value is valid: no
// policies, bodies up to 64 KiB buffered for replay, idempotent requests
// replayable.
type TransportConfig struct {
	// Policies are what every request runs through, in the order given,
	// the first outermost, as holdfast.New composes them;
	// holdfast.Recommended puts them in the order that suits most calls. A
	// fallback.Fallback[*http.Response] among them answers in place of a
	// failure. Nil means none: requests only pass to next.
	Policies []holdfast.Policy
	// MaxReplayBody is the largest request body without a GetBody that is
	// read into memory before the first attempt, so that a retry or hedge
	// can send it again. A larger body (or one whose Content-Length says it
	// is larger) is streamed to a single attempt and never retried or
	// hedged. A body with GetBody is never buffered: GetBody gives each
	// attempt its copy. Zero means [DefaultMaxReplayBody]; a negative value
	// buffers nothing, so only bodies with GetBody are replayed.
	MaxReplayBody int64
	// Replayable reports whether a request may be sent more than once:
	// only such requests are retried or hedged; the others run through the
	// policies without their retries and hedges, and are sent at most
	// once. It must be safe for concurrent use. Nil means [Idempotent].
	Replayable func(*http.Request) bool
}

// Transport is an http.RoundTripper that runs each request through a
// pipeline of holdfast policies around another RoundTripper. Create one with
// [NewTransport] or [NewRoundTripper]; the zero value is not usable. A
// Transport is safe for concurrent use.
//
// Each attempt is judged by [Outcome]: a 5xx or 429 response is a failure
// that retries and breakers see as a [*StatusError] (with its Retry-After,
// which a retry waits for), a transport error is a failure, a cancelled
// request is nobody's fault. What the caller gets follows the RoundTripper
// contract, a response or an error but never both:
//
//   - the response of the attempt that succeeded;
//   - when the policies give up on a failure status (attempts or budget
//     spent, a Retry-After too long), the last failed response itself,
//     body unread, with a nil error, as a plain Transport would have
//     returned it;
//   - otherwise the error: a transport error, a breaker's or limiter's
//     refusal, a timeout, possibly wrapped by a retry's
//     retry.ExhaustedError.
//
// Every other response, of attempts retried past, hedges that lost, and
// attempts that came back after the call was decided, is closed, its body
// first drained up to 4 KiB so that its connection can carry the next
// request; a failed response is discarded as soon as the next attempt
// begins, not when the call ends.
//
// Each attempt sends req.Clone with a context of its own, derived from the
// request's: the policies' context (a timeout's, a retry's per-try timeout,
// a hedge cancelling a loser) governs the attempt until its response
// headers arrive, and the response body is then read under the request's
// context alone, so that a timeout that passes while the caller reads
// cannot cut the body off. A timeout among the policies thus bounds the
// wait for headers; bound the body with the request's context or
// http.Client.Timeout.
type Transport struct {
	next       http.RoundTripper
	full       *holdfast.Pipeline[*http.Response] // for replayable requests
	once       *holdfast.Pipeline[*http.Response] // full without retries and hedges
	maxReplay  int64                              // < 0: never buffer
	replayable func(*http.Request) bool
}

var _ http.RoundTripper = (*Transport)(nil)

// NewRoundTripper returns a [Transport] that runs requests through policies,
// the first outermost, around next (nil means http.DefaultTransport), with
// the defaults of [TransportConfig], as failsafe-go's
// failsafehttp.NewRoundTripper does:
//
//	client := &http.Client{Transport: holdfasthttp.MustNewRoundTripper(nil, retryPolicy, circuitBreaker)}
func NewRoundTripper(next http.RoundTripper, policies ...holdfast.Policy) (*Transport, error) {
	return NewTransport(next, TransportConfig{Policies: policies})
}

// MustNewRoundTripper is like [NewRoundTripper] but panics on error. It is
// meant for examples, tests and package-level clients.
func MustNewRoundTripper(next http.RoundTripper, policies ...holdfast.Policy) *Transport {
	t, err := NewRoundTripper(next, policies...)
	if err != nil {
		panic(err)
	}
	return t
}

// NewTransport returns a [Transport] configured by c around next (nil means
// http.DefaultTransport), or the error holdfast.New gives for c.Policies.
func NewTransport(next http.RoundTripper, c TransportConfig) (*Transport, error) {
	if next == nil {
		next = http.DefaultTransport
	}
	full, err := holdfast.New[*http.Response](c.Policies...)
	if err != nil {
		return nil, err
	}
	t := &Transport{next: next, full: full, once: full, maxReplay: c.MaxReplayBody, replayable: c.Replayable}
	if t.maxReplay == 0 {
		t.maxReplay = DefaultMaxReplayBody
	}
	if t.replayable == nil {
		t.replayable = Idempotent
	}
	all := full.Policies()
	var single []holdfast.Policy
	for _, p := range all {
		if k := kindOf(p); k != holdfast.KindRetry && k != holdfast.KindHedge {
			single = append(single, p)
		}
	}
	if len(single) < len(all) {
		if t.once, err = holdfast.New[*http.Response](single...); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func kindOf(p holdfast.Policy) holdfast.Kind {
	if k, ok := p.(holdfast.Kinded); ok {
		return k.Kind()
	}
	return holdfast.KindOther
}

// CloseIdleConnections closes the idle connections of the RoundTripper t
// wraps, if it has such a method, as http.Client.CloseIdleConnections
// expects of a Transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip runs req through t's policies; see [Transport] for what it
// returns. Like any RoundTripper it closes req.Body, on errors too.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := &call{t: t, req: req, ctx: req.Context()}
	replay := t.replayable(req)
	if err := c.prepareBody(replay); err != nil {
		return nil, err
	}
	p := t.full
	if !replay || !c.replayableBody {
		p, c.single = t.once, true
	}
	resp, err := p.Get(c.ctx, c.attempt)
	return c.finish(resp, err)
}

var (
	// errSentOnce is the error of a second attempt at a request that may be
	// sent only once, should a policy try one.
	errSentOnce = errors.New("holdfasthttp: request may be sent only once")
	// errCallOver is what an attempt that comes back after its call was
	// decided returns; nobody reads it but the policy that ran it.
	errCallOver = errors.New("holdfasthttp: call already decided")
	// errNoResponse is returned when the policies succeeded without a
	// response, such as a fallback whose value is nil.
	errNoResponse = errors.New("holdfasthttp: policies returned no response and no error")
)

// bufferBody reads r's body for replay when it is at most limit bytes. It
// returns the body's bytes, or, for a larger body, what to stream once in
// its place (what was read, then the rest).
func bufferBody(r *http.Request, limit int64) (data []byte, stream io.ReadCloser, err error) {
	size := int64(512)
	if r.ContentLength > 0 {
		size = r.ContentLength + 1
	}
	b := bytes.NewBuffer(make([]byte, 0, min(limit+1, size)))
	n, err := io.Copy(b, io.LimitReader(r.Body, limit+1))
	if err != nil {
		r.Body.Close()
		return nil, nil, fmt.Errorf("holdfasthttp: reading the request body: %w", err)
	}
	if n <= limit {
		r.Body.Close()
		return b.Bytes(), nil, nil
	}
	return nil, prefixedBody{Reader: io.MultiReader(bytes.NewReader(b.Bytes()), r.Body), Closer: r.Body}, nil
}

// prefixedBody is a body of which a first part was read already.
type prefixedBody struct {
	io.Reader
	io.Closer
}

// cancelBody is a response body whose Close also ends the attempt's
// context, which outlives the round trip so that the body can be read.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// cancelRWBody is a cancelBody for the writable body of a 101 Switching
// Protocols response.
type cancelRWBody struct {
	io.ReadWriteCloser
	cancel context.CancelCauseFunc
}

func (b *cancelRWBody) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel(nil)
	return err
}

// discard drains a response that will not be returned, up to maxDrain, and
// closes it.
func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
}
