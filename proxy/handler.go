package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/upstream"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// ServeHTTP forwards r by the running config.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := p.state.Load()
	start := time.Now()
	info := RequestInfo{Method: r.Method}
	var span trace.Span
	if p.opts.Tracer != nil {
		r, span = p.startRequestSpan(r)
	}
	defer func() {
		if span != nil {
			endRequestSpan(span, &info)
		}
		if p.opts.OnRequest != nil {
			info.Duration = time.Since(start)
			p.opts.OnRequest(info)
		}
	}()
	local := func(status int, reason, msg string, retryAfter time.Duration) {
		info.Status, info.Reason = status, reason
		if isGRPC(r) {
			grpcLocalReply(w, status, reason, msg, retryAfter)
			return
		}
		holdfasthttp.LocalReply(w, status, reason, msg, retryAfter)
	}
	// The fields as the client sent them, before the id is added.
	fields := headerFields(r)
	// Every reply, local ones included, carries the request's id.
	id := requestID(r.Header)
	w.Header().Set("X-Request-Id", id)

	if !p.screenRequest(w, r, fields, st, local) {
		return
	}
	if r.Method == http.MethodConnect {
		local(http.StatusMethodNotAllowed, ReasonInvalidRequest, "CONNECT is not supported", 0)
		return
	}
	if p.statusKV != nil && strings.HasPrefix(r.URL.Path, MessagesPath) {
		p.serveMessageStatus(w, r, st, local) // durable.go
		return
	}
	rt := st.routeFor(r)
	if rt == nil {
		local(http.StatusNotFound, ReasonNoRoute, "no route matches "+r.Method+" "+sanitizePath(r.URL.Path), 0)
		return
	}
	info.Route = rt.name

	if rt.limiter != nil {
		key := rt.limitKey(r)
		if ok, wait := rt.limiter.TryAt(key, start); !ok {
			local(http.StatusTooManyRequests, ReasonRateLimited, "rate limit exceeded", wait)
			return
		}
	}

	if rt.durable != nil || rt.idem != nil {
		p.serveStored(w, r, st, rt, span != nil, &info, local) // idempotency.go, durable.go
		return
	}
	p.serveRoute(w, r, st, rt, span != nil, &info, local)
}

// outboundHeader returns the header an upstream gets for r: the client's,
// without hop-by-hop fields or Expect (holdfast answers Expect itself:
// net/http's server sends 100 Continue when the body is first read, and
// the body goes upstream without one), with X-Forwarded-For and -Proto.
func outboundHeader(r *http.Request) http.Header {
	hdr := r.Header.Clone()
	removeHopHeaders(hdr)
	delete(hdr, "Expect")
	setForwarded(hdr, r)
	return hdr
}

// bodyFailed answers a request whose body could not be read: 413 past a
// limit, else 400. Where a body's framing failed, so does the
// connection's: what follows on it is not a request (RFC 9112 §6.3, §8).
func bodyFailed(w http.ResponseWriter, err error, local localFunc) {
	w.Header().Set("Connection", "close")
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		local(http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, bodyTooLarge(mbe.Limit), 0)
		return
	}
	local(http.StatusBadRequest, ReasonInvalidRequest, "cannot read the request body", 0)
}

// localFunc sends a local reply and records it in the request's info.
type localFunc func(status int, reason, msg string, retryAfter time.Duration)

// serveRoute forwards r, routed to rt, to the route's upstream through its
// policies and relays the answer.
func (p *Proxy) serveRoute(w http.ResponseWriter, r *http.Request, st *state, rt *route, traced bool, info *RequestInfo, local localFunc) {
	maxBody := st.cfg.Limits.MaxBodyBytes
	if maxBody >= 0 {
		if r.ContentLength > maxBody {
			local(http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, bodyTooLarge(maxBody), 0)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
	}

	timeout := rt.cfg.Timeout
	if d, ok := grpcTimeout(r.Header.Get("Grpc-Timeout")); ok && isGRPC(r) {
		// The client gives up at its deadline: work past it is wasted, and
		// only an answer at it tells the client DEADLINE_EXCEEDED.
		timeout = min(timeout, d)
	}
	// The route timeout bounds the whole exchange, the relay of the body
	// included. A long-lived route (and an upgrade) is bounded by it only
	// until the response head: its deadline is a timer that the head
	// stops, and ending it cancels with DeadlineExceeded as the cause.
	proto := upgradeType(r.Header) // screenRequest let only an allowed one through
	var ctx context.Context
	var headTimer *time.Timer
	if rt.cfg.LongLived || proto != "" {
		c, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		headTimer = time.AfterFunc(timeout, func() { cancel(context.DeadlineExceeded) })
		defer headTimer.Stop()
		ctx = c
	} else {
		// A deadline the upstream transport keeps on the connection: no
		// timer unless something else watches it (upstream.WithDeadline).
		c, cancel := upstream.WithDeadline(r.Context(), time.Now().Add(timeout))
		defer cancel()
		ctx = c
	}

	var qv *quiesceVerdict
	if rt.quiesce != nil {
		// quiesce.go: a quiesced route answers at once, but for a trial.
		adm, ok := p.admitQuiesce(ctx, w, rt, info, local)
		if !ok {
			return
		}
		qv = &quiesceVerdict{}
		defer rt.quiesce.done(ctx, adm, qv, info, rt)
	}

	if f := rt.fault; f != nil {
		if f.Abort != nil && rand.Float64()*100 < f.Abort.Percent {
			local(f.Abort.Status, ReasonFault, "fault injected by route "+rt.name, 0)
			return
		}
		if f.Delay != nil && rand.Float64()*100 < f.Delay.Percent {
			// Cut short by the route's end; what follows then sees ctx done.
			sleep(ctx, f.Delay.Duration)
		}
	}

	tg := rt.pick()
	cl := tg.cluster
	info.Upstream = cl.name
	if cn := rt.canary; cn != nil {
		picked := time.Now()
		defer func() { now := time.Now(); cn.observe(tg, info, now.Sub(picked), now) }()
	}

	hdr := outboundHeader(r)

	if proto != "" {
		p.serveUpgrade(ctx, headTimer, w, r, rt, cl, hdr, proto, info)
		return
	}

	body, err := prepareBody(w, r, rt.maxReplay, holdfasthttp.Idempotent(r) || rt.vote != nil)
	if err != nil {
		bodyFailed(w, err, local)
		return
	}

	// The client's body is the handler's to end: after it returns, the
	// connection may carry the next request. A response broken on purpose
	// (panic(http.ErrAbortHandler)) gets no lingering: the connection goes.
	defer func() {
		if v := recover(); v != nil {
			body.abort()
			panic(v)
		}
		body.finish(w)
	}()

	if rt.vote != nil {
		p.serveVote(ctx, w, r, rt, hdr, body, info, local) // vote.go
		return
	}
	x := &exchange{r: r, rt: rt, cl: cl, retry: tg.retry, header: hdr, body: body, traced: traced}
	_, x.grpcTimeout = hdr["Grpc-Timeout"]
	o := p.forward(ctx, x)
	if headTimer != nil && o.kind == outcomeResponse && !headTimer.Stop() {
		// The head came as the deadline passed: the cancel has happened
		// or is happening, so the stream is cut; say so.
		o.discard()
		o = &outcome{kind: outcomeTimeout, err: context.DeadlineExceeded}
	}
	info.Attempts = int(x.attempts.Load())
	info.Retries, info.Hedges = x.retries, int(x.hedges.Load())
	info.Withheld = x.takeWithheld()
	if o.ep != nil {
		info.Endpoint = o.ep.Address().Host
	}
	if o.kind == outcomeResponse {
		if o.resp.StatusCode >= 500 && rt.fallsBackOn("5xx") {
			o.discard()
			info.Status, info.Reason, info.Fallback = rt.fallback.Status, "5xx", true
			writeFallback(w, rt, "5xx")
			return
		}
		info.Status = o.resp.StatusCode
		if rt.shadow != nil {
			if tap := rt.shadow.tap(r, hdr, body, o); tap != nil {
				defer p.shadowAfter(tap) // shadow.go: after the relay, never delaying it
			}
		}
		p.relay(ctx, w, o, info.Attempts, st.cfg.Limits.StreamIdleTimeout)
		return
	}
	defer o.discard()
	qv.noteFailure(o)
	status, reason, msg, retryAfter := failure(ctx, o)
	if rt.fallsBackOn(reason) {
		info.Status, info.Reason, info.Fallback = rt.fallback.Status, reason, true
		writeFallback(w, rt, reason)
		return
	}
	if o.kind == outcomeClientFault {
		w.Header().Set("Connection", "close") // as above: the framing failed
		if clientGone(o.err) {
			o.kind = outcomeCanceled
		}
	}
	if o.kind == outcomeCanceled {
		// The client is gone; nobody reads this. 499 is nginx's code for it.
		info.Status, info.Reason = 499, ReasonClientClosed
		// Returning without a word would make net/http send an empty 200,
		// which a client that is still there (its upload timed out under
		// limits.read_timeout, say) would take for a success. Break the
		// response instead; the deferred OnRequest still reports it.
		panic(http.ErrAbortHandler)
	}
	w.Header().Set(HeaderAttempts, strconv.Itoa(info.Attempts))
	local(status, reason, msg, retryAfter)
}

// failure maps a failed outcome to its local reply.
func failure(ctx context.Context, o *outcome) (status int, reason, msg string, retryAfter time.Duration) {
	var mbe *http.MaxBytesError
	if errors.As(o.err, &mbe) {
		return http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, bodyTooLarge(mbe.Limit), 0
	}
	switch o.kind {
	case outcomeLocal:
		switch o.reason {
		case ReasonBreakerOpen:
			return http.StatusServiceUnavailable, o.reason, "circuit breaker is open", o.retryAfter
		case ReasonOverloaded:
			return http.StatusServiceUnavailable, o.reason, "upstream is at its concurrency limit", o.retryAfter
		case ReasonShed:
			return http.StatusServiceUnavailable, o.reason, "shed to keep capacity for higher-priority routes", o.retryAfter
		case ReasonNoHealthyUpstream:
			return http.StatusServiceUnavailable, o.reason, "no healthy upstream endpoint", 0
		case ReasonTimeout:
			return http.StatusGatewayTimeout, o.reason, "timed out waiting for the upstream", 0
		}
		return http.StatusBadGateway, o.reason, "request could not be sent upstream", 0
	case outcomeClientFault:
		return http.StatusBadRequest, ReasonInvalidRequest, "cannot read the request body", 0
	case outcomeInvariant:
		var ie *invariantError
		if errors.As(o.err, &ie) {
			return http.StatusBadGateway, ReasonInvariantViolation, "no upstream answer passed the route's checks; the last broke " + ie.check, 0
		}
		return http.StatusBadGateway, ReasonInvariantViolation, "no upstream answer passed the route's checks", 0
	case outcomeTimeout, outcomeTryTimeout:
		return http.StatusGatewayTimeout, ReasonTimeout, "upstream did not answer in time", 0
	case outcomeConnectFailure:
		return http.StatusServiceUnavailable, ReasonNoHealthyUpstream, "cannot connect to the upstream", 0
	case outcomeReset:
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			// The upstream gave up once the deadline had passed, as a gRPC
			// server does by resetting the stream when the grpc-timeout it
			// was sent runs out, possibly before our own timer has fired.
			return http.StatusGatewayTimeout, ReasonTimeout, "upstream did not answer in time", 0
		}
		return http.StatusBadGateway, ReasonUpstreamReset, "upstream closed the connection", 0
	}
	return http.StatusBadGateway, ReasonUpstreamError, "upstream error", 0
}

func bodyTooLarge(limit int64) string {
	return "request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"
}

func writeFallback(w http.ResponseWriter, rt *route, reason string) {
	f := rt.fallback
	h := w.Header()
	for k, v := range f.Headers {
		h.Set(k, v)
	}
	h.Set(HeaderReason, reason)
	h.Set("X-Holdfast-Fallback", "true")
	h.Set("Content-Length", strconv.Itoa(len(f.Body)))
	w.WriteHeader(f.Status)
	io.WriteString(w, f.Body)
}

// relay sends an upstream response to the client, streaming its body and
// passing its trailers on. The exchange's context bounds it: when ctx ends
// (the route timeout, the client gone) or no byte moves for idle, the
// upstream read and the client write are both cut and the response is
// broken, so that a client that stops reading cannot hold the upstream.
func (p *Proxy) relay(ctx context.Context, w http.ResponseWriter, o *outcome, attempts int, idle time.Duration) {
	resp := o.resp
	defer o.discard()
	removeHopHeaders(resp.Header)
	h := w.Header()
	if _, echoed := resp.Header["X-Request-Id"]; echoed {
		delete(h, "X-Request-Id") // the upstream's copy replaces ours, not joins it
	}
	copyHeader(h, resp.Header)
	h.Set(HeaderAttempts, strconv.Itoa(attempts))
	tf := responseTrailers(resp) // before the body is read: see requestTrailers
	if names := tf.names(); len(names) > 0 {
		h.Set("Trailer", strings.Join(names, ", "))
		h.Del("Content-Length")
	}
	rc := http.NewResponseController(w)
	ct := resp.Header.Get("Content-Type")
	stream := resp.ContentLength < 0 || strings.HasPrefix(ct, "text/event-stream") || strings.HasPrefix(ct, "application/grpc")
	// When ctx ends, the upstream read ends with it: the attempt's context
	// is ctx's child, and the transport cuts the connection. The client
	// write is bounded by ctx's deadline, set on the connection (a timer
	// the poller keeps, where watching ctx would cost a callback and its
	// registration per request); a client that left needs no cut. A body
	// that net/http's server buffers whole (see heldWhole) reaches the
	// socket only after the handler returns, where no deadline of ours
	// applies, so it sets none: two runtime timer changes saved per request.
	dl, bounded := ctx.Deadline()
	if bounded && !heldWhole(resp.ContentLength, stream) && rc.SetWriteDeadline(dl) == nil {
		defer rc.SetWriteDeadline(time.Time{})
	}
	var wasCut atomic.Bool
	var guard *time.Timer
	if idle > 0 && (!bounded || time.Until(dl) > idle) {
		guard = time.AfterFunc(idle, func() {
			wasCut.Store(true)
			rc.SetWriteDeadline(time.Unix(1, 0))
			o.discard() // ends the upstream read
		})
	}
	w.WriteHeader(resp.StatusCode)
	err := copyBody(w, rc, resp, stream, guard, idle)
	// A cut that started (Stop says so) is as good as done: the write
	// deadline is or will be in the past.
	aborted := guard != nil && !guard.Stop()
	if err != nil || aborted || wasCut.Load() || ctx.Err() != nil && !selfDelimited(resp) {
		// The upstream broke mid-body, or the exchange was cut: the only
		// honest thing left is to break the client's response too, so it
		// does not look complete. A body that ended by its own framing is
		// whole even if ctx ended just after it (a gRPC upstream's
		// DEADLINE_EXCEEDED at the deadline the proxy sent it races the
		// proxy's own); one that ends with the connection cannot be told
		// from a cut once ctx has ended.
		panic(http.ErrAbortHandler)
	}
	for k, vs := range tf.pick(resp.Trailer) {
		h[http.TrailerPrefix+k] = vs
	}
}

// copyBody copies resp's body to w, flushing after each read when the body
// is a stream (unknown length, server-sent events, gRPC), and pushing the
// idle guard back after every piece. A failed write means the client went
// away or the exchange was cut; it returns errClientWrite then.
func copyBody(w http.ResponseWriter, rc *http.ResponseController, resp *http.Response, stream bool, guard *time.Timer, idle time.Duration) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return errClientWrite
			}
			if stream {
				rc.Flush()
			}
			if guard != nil {
				guard.Reset(idle)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// selfDelimited reports whether resp's body ends by its own framing (a
// length, chunking, HTTP/2's end of stream) rather than by the connection
// closing, so that reading it to io.EOF means it is whole.
func selfDelimited(resp *http.Response) bool {
	return resp.ProtoMajor >= 2 || resp.ContentLength >= 0 || slices.Contains(resp.TransferEncoding, "chunked")
}

// serverBuffered is how much of a response body net/http's server holds
// before it writes anything to the connection: the handler's buffer
// (bufferBeforeChunkingSize in net/http's server.go), in front of the
// connection's own.
const serverBuffered = 2048

// heldWhole reports whether a response body of length n (-1: unknown) is
// held whole in net/http's buffers until the handler returns: a body of
// known length that fits, and is not a stream that copyBody flushes.
func heldWhole(n int64, stream bool) bool {
	return !stream && n >= 0 && n <= serverBuffered
}

// errClientWrite is a response the client stopped taking.
var errClientWrite = errors.New("proxy: writing the response to the client failed")

// clientGone reports whether a request body failed because the client went
// away (its connection ended mid-body) rather than because it was bad.
func clientGone(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// sanitizePath bounds a path quoted in a reply.
func sanitizePath(p string) string {
	if len(p) > 200 {
		return p[:200] + "..."
	}
	return p
}
