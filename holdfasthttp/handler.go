package holdfasthttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/adaptive"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/guard"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/timeout"
)

// HandlerConfig configures a [Handler]. The zero value is valid: no
// policies, rate limits keyed by client IP.
type HandlerConfig struct {
	// Policies guard the handler, in the order given, the first outermost,
	// as holdfast.New composes them. The order that suits a server is rate
	// limit, bulkhead or adaptive limit, breaker, timeout: a breaker outside
	// a limit counts every request the limit refuses as a failure, so one
	// client over its rate limit would open the breaker for all. Retry,
	// hedge, fallback and vote policies are refused: a server cannot take
	// back a response its handler has begun. Nil means none.
	Policies []holdfast.Policy
	// Key picks the key a request is rate limited by, for every
	// *ratelimit.Keyed among Policies whose KeyFunc is the default
	// (ratelimit.KeyFrom): the Handler stores it with ratelimit.WithKey.
	// It must be safe for concurrent use. Nil means [ClientIP];
	// [HeaderKey] keys by a header instead.
	Key func(*http.Request) string
	// ShedRetryAfter is the Retry-After given with a 503 that sheds a
	// request (a full bulkhead or adaptive limit), whose refusal carries
	// no wait of its own, so that well-behaved clients back off. Zero means
	// none.
	ShedRetryAfter time.Duration
}

// Handler is an http.Handler that runs each request through server-side
// policies before and around the handler it wraps, and answers for them when
// they refuse: a rate limit with 429 rate_limited and the wait as
// Retry-After; an open breaker with 503 breaker_open; a full bulkhead or
// adaptive limit (load shed) with 503 overloaded, or queue_timeout for a
// request that queued too long; a quarantining guard with 503 silenced; a
// timeout with 504 timeout. Each answer is a [LocalReply], shaped as the
// proxy's. Create one with [NewHandler] or [Middleware]; the zero value is
// not usable. A Handler is safe for concurrent use.
//
// The wrapped handler's response is its outcome: a 5xx is a failure (a
// [*StatusError]), which a breaker counts and from which an adaptive limit
// takes no latency sample; a panic is a failure too, and is re-raised on the
// serving goroutine (one after the Handler answered for a timeout is
// dropped, as http.TimeoutHandler drops it); a request whose client left is
// no outcome at all.
//
// A timeout.Timeout gives the handler a context that ends at the deadline.
// When the handler has written nothing by then, the Handler answers 504 at
// once (with timeout.Config.Wait, once the handler returns), and the
// handler's later writes fail with http.ErrHandlerTimeout; when it has begun
// its response, the response is aborted (panic(http.ErrAbortHandler)), so
// that the client sees it cut off rather than complete. The handler then
// works on its own header map, copied to the response when it writes
// headers and again when it returns (for trailers).
type Handler struct {
	next     http.Handler
	p        *holdfast.Pipeline[struct{}]
	key      func(*http.Request) string
	keyed    bool // some policy is a *ratelimit.Keyed: store the key
	isolated bool // the handler may outlive ServeHTTP: give it its own headers
	shedWait time.Duration
}

var _ http.Handler = (*Handler)(nil)

// Middleware returns a [Handler] that guards next with policies, the first
// outermost (see [HandlerConfig].Policies for the order that suits a
// server), and the defaults of HandlerConfig; it is failsafe-go's
// failsafehttp.NewHandler:
//
//	h, err := holdfasthttp.Middleware(mux, limiter, bulkhead, breaker, timeout)
func Middleware(next http.Handler, policies ...holdfast.Policy) (*Handler, error) {
	return NewHandler(next, HandlerConfig{Policies: policies})
}

// NewHandler returns a [Handler] that guards next as c says, or an error
// for a policy that cannot guard a handler or that holdfast.New refuses.
func NewHandler(next http.Handler, c HandlerConfig) (*Handler, error) {
	if next == nil {
		return nil, errors.New("holdfasthttp: nil handler")
	}
	for i, pol := range c.Policies {
		if pol == nil {
			return nil, fmt.Errorf("%w at position %d", holdfast.ErrNilPolicy, i)
		}
		switch k := kindOf(pol); k {
		case holdfast.KindRetry, holdfast.KindHedge, holdfast.KindFallback, holdfast.KindVote:
			return nil, fmt.Errorf("holdfasthttp: a %s policy (position %d) cannot guard a handler: a response once begun cannot be taken back", k, i)
		}
	}
	p, err := holdfast.New[struct{}](c.Policies...)
	if err != nil {
		return nil, err
	}
	h := &Handler{next: next, p: p, key: c.Key, shedWait: c.ShedRetryAfter}
	if h.key == nil {
		h.key = ClientIP
	}
	for _, pol := range p.Policies() {
		if _, ok := pol.(*ratelimit.Keyed); ok {
			h.keyed = true
		}
		if mayOutlive(pol) {
			h.isolated = true
		}
	}
	return h, nil
}

// mayOutlive reports whether p may return before the call it runs, as
// holdfast.Pipeline judges it.
func mayOutlive(p holdfast.Policy) bool {
	if c, ok := p.(holdfast.Concurrent); ok {
		return c.Concurrent()
	}
	k := kindOf(p)
	return k == holdfast.KindHedge || k == holdfast.KindTimeout
}

// ClientIP returns the host of r.RemoteAddr: the address of the peer, which
// behind a proxy is the proxy's. It is the default [HandlerConfig].Key.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// HeaderKey returns a [HandlerConfig].Key that keys requests by the first
// value of header name, as the proxy's rate_limit key "header:<name>".
// Requests without the header share the key "".
func HeaderKey(name string) func(*http.Request) string {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) string { return r.Header.Get(name) }
}

// ServeHTTP runs r through h's policies to the wrapped handler, or answers
// for the policy that refused it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if h.keyed {
		ctx = ratelimit.WithKey(ctx, h.key(r))
	}
	s := &exchange{h: h, r: r}
	s.w.init(w, h.isolated)
	err := h.p.Run(ctx, s.serve)

	s.w.mu.Lock()
	s.w.sealed = true // from here on only this goroutine writes to w
	st := s.state
	wrote := s.w.wrote
	s.w.mu.Unlock()

	switch {
	case st == served && s.panicked:
		panic(s.panicVal)
	case st == served && (wrote || !errors.Is(err, timeout.ErrTimeout)):
		// The handler's response stands. One that wrote nothing after its
		// timeout (timeout.Config.Wait) gets the timeout's answer below.
	case st == running && wrote:
		// Abandoned at its deadline midway through its response: break
		// the response off rather than let it look complete.
		panic(http.ErrAbortHandler)
	default:
		h.refuse(w, r, err)
	}
}

// refuse answers for the policy whose err kept the handler from answering.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) || err == nil {
		// The client is gone (or a policy dropped the request without a
		// word): nobody reads an answer, and an empty 200 would pass for
		// a success with a client that is still there.
		panic(http.ErrAbortHandler)
	}
	status, reason, msg := refusal(err)
	wait, _ := holdfast.RetryAfter(err)
	if wait <= 0 && (reason == ReasonOverloaded || reason == ReasonQueueTimeout) {
		wait = h.shedWait
	}
	LocalReply(w, status, reason, msg, wait)
}

// refusal maps a policy's refusal to its local reply.
func refusal(err error) (status int, reason, msg string) {
	var fe *bulkhead.FullError
	switch {
	case errors.Is(err, ratelimit.ErrLimited): // before deadlines: a limit may wrap one
		return http.StatusTooManyRequests, ReasonRateLimited, "rate limit exceeded"
	case errors.Is(err, breaker.ErrOpen):
		return http.StatusServiceUnavailable, ReasonBreakerOpen, "circuit breaker is open"
	case errors.As(err, &fe) && fe.Reason == ReasonQueueTimeout:
		return http.StatusServiceUnavailable, ReasonQueueTimeout, "timed out waiting for a concurrency slot"
	case errors.Is(err, bulkhead.ErrFull), errors.Is(err, adaptive.ErrLimited):
		return http.StatusServiceUnavailable, ReasonOverloaded, "server is at its concurrency limit"
	case errors.Is(err, guard.ErrSilenced):
		return http.StatusServiceUnavailable, ReasonSilenced, "service is quarantined"
	case errors.Is(err, context.DeadlineExceeded): // timeout.ErrTimeout among them
		return http.StatusGatewayTimeout, ReasonTimeout, "request did not finish in time"
	}
	return http.StatusServiceUnavailable, ReasonUnavailable, "request refused"
}

// The states of an exchange, as its handler goes.
const (
	waiting = iota // not begun
	running        // begun, not returned
	served         // returned (or panicked) before the Handler took w back
)

// exchange is one request through a Handler.
type exchange struct {
	h *Handler
	r *http.Request
	w writer

	// Guarded by w.mu.
	state    int
	panicked bool
	panicVal any
}

var errServedOnce = errors.New("holdfasthttp: a handler serves a request once")

// serve runs the handler once, as the pipeline's call, and returns its
// outcome.
func (s *exchange) serve(ctx context.Context) (err error) {
	s.w.mu.Lock()
	if s.w.sealed || s.state != waiting {
		// Begun too late (the call is decided) or a second time.
		s.w.mu.Unlock()
		return holdfast.Permanent(errServedOnce)
	}
	s.state = running
	s.w.mu.Unlock()

	r := s.r
	if ctx != r.Context() {
		r = r.WithContext(ctx)
	}
	completed := false
	defer func() {
		var pv any
		if !completed {
			pv = recover()
		}
		s.w.mu.Lock()
		defer s.w.mu.Unlock()
		if s.w.sealed {
			return // abandoned: the Handler has answered; drop what this was
		}
		s.state = served
		s.w.finishLocked()
		if !completed && pv != nil {
			s.panicked, s.panicVal = true, pv
			err = fmt.Errorf("holdfasthttp: handler panicked: %v", pv)
			return
		}
		switch {
		case errors.Is(s.r.Context().Err(), context.Canceled):
			err = s.r.Context().Err() // the client left: no outcome
		case s.w.status >= 500:
			err = &StatusError{StatusCode: s.w.status}
		}
	}()
	s.h.next.ServeHTTP(&s.w, r)
	completed = true
	return nil
}
