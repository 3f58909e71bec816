package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/upstream"
)

type outcomeKind uint8

const (
	outcomeResponse       outcomeKind = iota // the upstream answered; resp is set
	outcomeConnectFailure                    // no connection could be made
	outcomeReset                             // the connection broke before a full response head
	outcomeTryTimeout                        // the per-try timeout passed
	outcomeLocal                             // holdfast refused the attempt itself; reason is set
	outcomeTimeout                           // the route timeout passed
	outcomeCanceled                          // the client went away
	outcomeClientFault                       // the client's request body failed; err says how
	outcomeInvariant                         // the response broke the route's checks; err says which (invariant.go)
)

// outcome is how one attempt, or the whole request, ended.
type outcome struct {
	kind       outcomeKind
	resp       *http.Response
	err        error
	reason     string        // for outcomeLocal
	retryAfter time.Duration // a wait hint from a rejection or a Retry-After header
	ep         *upstream.Endpoint
	cancel     context.CancelFunc // a hedged winner's: releases the hedge once its body is read
}

// discard releases an outcome that will not be sent to the client.
func (o *outcome) discard() {
	if o == nil {
		return
	}
	if o.resp != nil {
		o.resp.Body.Close()
	}
	if o.cancel != nil {
		o.cancel()
	}
}

// succeeded reports whether an attempt needs no retry from the upstream's
// point of view (a response below 500).
func (o *outcome) failed() bool {
	return o.kind != outcomeResponse || o.resp.StatusCode >= 500
}

// exchange is one client request on its way through the attempts.
type exchange struct {
	r        *http.Request
	rt       *route
	cl       *cluster
	header   http.Header // the outbound header, shared read-only by attempts
	body     *reqBody
	retry    *retry.Retry // the route's retry policy for cl, with its budget
	attempts atomic.Int32
	hedges   atomic.Int32 // hedged attempts started, for RequestInfo
	retries  int          // retry rounds; forward's goroutine only
	// grpcTimeout: the client sent grpc-timeout, which each attempt passes
	// on reduced to what is left of the exchange's deadline.
	grpcTimeout bool
	// traced: the proxy traces, so each attempt is a span whose context
	// the attempt's header carries.
	traced bool

	// mu guards exclude, last and withheld, which hedged attempts share.
	mu       sync.Mutex
	exclude  upstream.Mask // the endpoints tried
	last     int           // the endpoint tried last, when exclude is not empty
	withheld []Withheld    // the attempts the route's checks withheld, for RequestInfo
}

// withhold notes attempt n to ep, whose response (status) broke the check
// of err, an *invariantError.
func (x *exchange) withhold(ep *upstream.Endpoint, n, status int, err error) {
	w := Withheld{Upstream: x.cl.name, Endpoint: ep.Address().Host, Attempt: n, Status: status}
	var ie *invariantError
	if errors.As(err, &ie) {
		w.Check = ie.name
	}
	x.mu.Lock()
	x.withheld = append(x.withheld, w)
	x.mu.Unlock()
}

// takeWithheld returns a copy of the attempts withheld so far: a hedge
// still running may add one.
func (x *exchange) takeWithheld() []Withheld {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.withheld)
}

// forward runs the route's retry and hedge policies and returns the outcome
// to give the client. The caller owns the returned outcome. Whether and when
// to retry is the retry policy's decision ([retry.Retry.DecideAt]), the same
// one the library makes: the route's retry_on conditions, the attempts, a
// Retry-After above max_retry_after, the route deadline, then the budget,
// which is charged only for a retry that is made.
func (p *Proxy) forward(ctx context.Context, x *exchange) *outcome {
	rt, r := x.rt, x.retry
	retryable := holdfasthttp.Idempotent(x.r) && x.body.replayable
	if b := r.Budget(); b != nil {
		b.RecordRequest()
	}
	var prev time.Duration
	for n := 1; ; n++ {
		var o *outcome
		if retryable && rt.hedger != nil {
			o = p.hedged(ctx, x)
		} else {
			o = p.attempt(ctx, x, false)
		}
		// A success, or a failure retry_on does not name, is final: no
		// decision to ask for (and nothing to allocate for one).
		if !retryable || ctx.Err() != nil || !rt.retryOn.retryable(o) {
			return o
		}
		deadline, _ := ctx.Deadline()
		wait, final := r.DecideAt(time.Now(), deadline, n, prev, o.asError())
		if final != nil {
			return o
		}
		o.discard()
		prev = wait
		if err := sleep(ctx, wait); err != nil {
			return ctxOutcome(ctx)
		}
		x.retries++
	}
}

// sleep waits d, or until ctx ends, when it returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attemptError is a finished attempt's outcome as the retry policy sees it;
// its RetryIf is the route's retry_on conditions (retryConditions.retryIf).
type attemptError struct{ o *outcome }

func (e *attemptError) Error() string { return "proxy: attempt failed" }

// Unwrap exposes the transport's error, if any.
func (e *attemptError) Unwrap() error { return e.o.err }

// hintedError is an attemptError whose upstream asked for a wait
// (Retry-After on a 503 or 429), which the retry policy honours.
type hintedError struct{ attemptError }

func (e *hintedError) RetryAfter() time.Duration { return e.o.retryAfter }

// asError returns o for retry.DecideAt.
func (o *outcome) asError() error {
	if o.kind == outcomeResponse && o.retryAfter > 0 {
		return &hintedError{attemptError{o}}
	}
	return &attemptError{o}
}

// outcomeOf returns the outcome behind an error made by asError.
func outcomeOf(err error) *outcome {
	switch e := err.(type) {
	case *attemptError:
		return e.o
	case *hintedError:
		return e.o
	}
	return nil
}

func ctxOutcome(ctx context.Context) *outcome {
	// Cause, not Err: a long-lived route's deadline is a cancel whose cause
	// is DeadlineExceeded (see ServeHTTP).
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return &outcome{kind: outcomeTimeout, err: context.DeadlineExceeded}
	}
	return &outcome{kind: outcomeCanceled, err: ctx.Err()}
}

// errAttemptFailed marks a failed attempt to the hedger, which then hedges
// at once; the outcome itself travels as the value.
var errAttemptFailed = errors.New("proxy: attempt failed")

// hedged runs one attempt and, while it is slow, hedged extra attempts on
// other endpoints: the hedger's Race, which keeps the winner's context live
// while its body is relayed and hands every other outcome back to be
// discarded. The returned outcome's cancel is the hedger's stop, which
// releases the hedge once the winner's body is relayed.
func (p *Proxy) hedged(ctx context.Context, x *exchange) *outcome {
	var calls atomic.Int32
	o, stop, _ := hedge.Race(ctx, x.rt.hedger, func(actx context.Context) (*outcome, error) {
		hedge := calls.Add(1) > 1
		if hedge {
			x.hedges.Add(1)
		}
		o := p.attempt(actx, x, hedge)
		if o.failed() {
			return o, errAttemptFailed
		}
		return o, nil
	}, (*outcome).discard)
	if o == nil {
		stop()
		return ctxOutcome(ctx) // the route context ended before any answer
	}
	o.cancel = stop
	return o
}

// attempt makes one upstream call: pick an endpoint not tried yet, pass the
// upstream's breaker and concurrency limit, and send.
func (p *Proxy) attempt(ctx context.Context, x *exchange, hedge bool) *outcome {
	cl := x.cl
	x.mu.Lock()
	var ep *upstream.Endpoint
	var err error
	if x.exclude.Empty() {
		ep, err = cl.up.Pick(x.exclude)
	} else {
		// A retry or a hedge: to an endpoint not tried yet unless it is
		// doubtful (ejected, on probation, far slower than its peers),
		// when a sound one tried before is the better bet.
		ep, err = cl.up.PickRetry(x.exclude, x.last)
	}
	if err == nil {
		x.exclude.Add(ep.Index())
		x.last = ep.Index()
	}
	x.mu.Unlock()
	if err != nil {
		if x.traced {
			refusedAttempt(ctx, ReasonNoHealthyUpstream)
		}
		return &outcome{kind: outcomeLocal, reason: ReasonNoHealthyUpstream, err: err}
	}
	tk, reason, err := cl.admit(ctx, x.rt.cfg.Priority, p.burning())
	if err != nil {
		if ctx.Err() != nil {
			return ctxOutcome(ctx)
		}
		if x.traced {
			refusedAttempt(ctx, reason)
		}
		o := &outcome{kind: outcomeLocal, reason: reason, err: err}
		if ra, ok := holdfast.RetryAfter(err); ok {
			o.retryAfter = ra
		}
		return o
	}
	n := int(x.attempts.Add(1))

	actx, span := ctx, trace.Span(nil)
	if x.traced {
		actx, span = p.startAttemptSpan(ctx, x, ep, n, hedge)
	}
	out, err := x.outRequest(actx, ep)
	if err != nil {
		tk.ignore()
		if span != nil {
			endAttemptSpan(span, AttemptClientFault, 0, err)
		}
		return &outcome{kind: outcomeLocal, reason: ReasonInvalidRequest, err: err}
	}
	ep.Start()
	begin := time.Now()
	// The per-try timeout bounds the attempt, its response body included.
	// One that would end after the route's deadline changes nothing, so it
	// is not set then; the transport keeps it on the connection.
	var until time.Time
	if ptt := x.rt.retryCfg.PerTryTimeout; ptt > 0 && !x.rt.cfg.LongLived {
		if dl, ok := ctx.Deadline(); !ok || dl.Sub(begin) > ptt {
			until = begin.Add(ptt)
		}
	}
	resp, err := upstream.RoundTripUntil(cl.rt, out, until)
	var broken error // the check the response broke
	if err == nil && x.rt.checks != nil {
		if jerr := x.rt.checks.judge(x.r.Method, resp); errors.Is(jerr, errInvariant) {
			broken = jerr
		} else if jerr != nil {
			// The body broke while it was read to be judged: as if before
			// the head, since none of the response can be relayed.
			resp.Body.Close()
			resp, err = nil, jerr
		}
	}
	took := time.Since(begin)
	o := &outcome{ep: ep, resp: resp, err: err}
	switch {
	case broken != nil:
		// Withheld: a wrong answer of the endpoint, which outlier
		// detection counts in its own streak (upstream.Invalid, for
		// consecutive_invariant_violations; a 5xx a status check withheld
		// stays the failure it is, for consecutive_failures, and is not
		// counted twice), and a failure of the upstream (breaker, adaptive
		// limit), which the route's retry may take to another endpoint.
		resp.Body.Close()
		o.kind, o.resp, o.err = outcomeInvariant, nil, broken
		eo := upstream.Invalid
		if upstream.StatusOutcome(resp.StatusCode) == upstream.Failure {
			eo = upstream.Failure
		}
		ep.Done(took, eo)
		tk.done(broken)
		x.withhold(ep, n, resp.StatusCode, broken)
		p.reportAttempt(x, ep, n, took, AttemptWithheld, resp.StatusCode, checkBroken(broken), span)
		return o
	case err == nil:
		o.kind = outcomeResponse
		// The one mapping of responses to outcomes, holdfasthttp's: 5xx
		// and 429 fail the breaker and the adaptive limit, with the
		// upstream's Retry-After when it gave one.
		oerr := holdfasthttp.Outcome(resp, nil, time.Now())
		if ra, ok := holdfast.RetryAfter(oerr); ok {
			o.retryAfter = ra
		}
		eo := upstream.StatusOutcome(resp.StatusCode)
		if eo == upstream.Success && x.rt.checks != nil {
			eo = upstream.Valid // judged and passed: ends a streak of violations
		}
		ep.Done(took, eo)
		tk.done(oerr)
		p.reportAttempt(x, ep, n, took, AttemptResponse, resp.StatusCode, nil, span)
		return o
	case x.body.clientFault(err) != nil:
		// The client's body failed (malformed, too large, the client
		// left): nothing here is the upstream's doing, so neither the
		// breaker, the adaptive limit, outlier detection nor the latency
		// estimate hears of it.
		ep.Done(took, upstream.Canceled)
		tk.ignore()
		p.reportAttempt(x, ep, n, took, AttemptClientFault, 0, err, span)
		return &outcome{kind: outcomeClientFault, err: x.body.clientFault(err), ep: ep}
	case ctx.Err() != nil:
		ep.Done(took, upstream.ErrorOutcome(ctx, ctx.Err()))
		tk.done(context.Canceled)
		p.reportAttempt(x, ep, n, took, AttemptCanceled, 0, ctx.Err(), span)
		return ctxOutcome(ctx)
	case errors.Is(err, upstream.ErrTryTimeout):
		o.kind = outcomeTryTimeout
	default:
		o.kind = transportFailure(err)
	}
	ep.Done(took, upstream.Failure)
	tk.done(err)
	if p.opts.OnAttempt != nil || span != nil {
		outcome := AttemptReset
		switch o.kind {
		case outcomeTryTimeout:
			outcome = AttemptTryTimeout
		case outcomeConnectFailure:
			outcome = AttemptConnectFailure
		}
		p.reportAttempt(x, ep, n, took, outcome, 0, err, span)
	}
	return o
}

// reportAttempt ends a sent attempt's span, if it has one, and passes the
// attempt to Options.OnAttempt, if set.
func (p *Proxy) reportAttempt(x *exchange, ep *upstream.Endpoint, n int, took time.Duration, outcome string, status int, err error, span trace.Span) {
	if span != nil {
		endAttemptSpan(span, outcome, status, err)
	}
	if p.opts.OnAttempt == nil {
		return
	}
	p.opts.OnAttempt(AttemptInfo{
		Route: x.rt.name, Upstream: x.cl.name, Endpoint: ep.Address().Host,
		Attempt: n, Outcome: outcome, Status: status, Duration: took,
	})
}

// outRequest builds the request for one attempt to ep.
func (x *exchange) outRequest(ctx context.Context, ep *upstream.Endpoint) (*http.Request, error) {
	addr := ep.Address()
	u := &url.URL{
		Scheme:   addr.Scheme,
		Host:     addr.Host,
		Path:     x.r.URL.Path,
		RawPath:  x.r.URL.RawPath,
		RawQuery: x.r.URL.RawQuery,
	}
	if u.Scheme == "" {
		u.Scheme = "http"
	}
	// Built directly rather than with http.NewRequest, which would format
	// the URL only to parse it again; the method was checked by the server.
	out := (&http.Request{
		Method:     x.r.Method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     x.header,
		Host:       x.r.Host,
	}).WithContext(ctx)
	dl, hasDeadline := ctx.Deadline()
	if x.traced || x.grpcTimeout && hasDeadline {
		out.Header = x.header.Clone() // this attempt's own
	}
	if x.grpcTimeout && hasDeadline {
		// The client's grpc-timeout, less the time already spent: the
		// upstream must give up when the client does, not later, whichever
		// attempt this is (gRPC's PROTOCOL-HTTP2.md, Timeout).
		out.Header.Set("Grpc-Timeout", formatGRPCTimeout(max(time.Until(dl), time.Nanosecond)))
	}
	if x.traced {
		// The attempt's span is the upstream's parent, in place of
		// whatever trace context the client sent.
		propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
	}
	if err := x.body.attach(out); err != nil {
		return nil, err
	}
	return out, nil
}

// transportFailure classifies a round trip's error that is neither the
// client's nor a context's: no connection could be made, or it broke.
func transportFailure(err error) outcomeKind {
	var ce *upstream.ConnectError
	if errors.As(err, &ce) || isDialError(err) {
		return outcomeConnectFailure
	}
	return outcomeReset
}

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}
