package holdfastgrpc

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/ratelimit"
)

// server is the state the server interceptors share.
type server struct {
	p       *holdfast.Pipeline[answer]
	failure codeBits
	// key, when not nil, is stored in every handler's context for a
	// ratelimit.Keyed among the policies.
	key  func(context.Context) string
	shed time.Duration
}

func newServer(c ServerConfig) (*server, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := holdfast.New[answer](c.Policies...)
	if err != nil {
		return nil, err
	}
	failure, _ := codeSet("", c.FailureCodes, DefaultFailureCodes)
	s := &server{p: p, failure: failure, shed: c.ShedPushback}
	if slices.ContainsFunc(c.Policies, func(p holdfast.Policy) bool { _, ok := p.(*ratelimit.Keyed); return ok }) {
		s.key = c.Key
		if s.key == nil {
			s.key = ClientIP
		}
	}
	return s, nil
}

// context is ctx with the rate limit key, when a keyed limiter wants one.
func (s *server) context(ctx context.Context) context.Context {
	if s.key == nil {
		return ctx
	}
	return ratelimit.WithKey(ctx, s.key(ctx))
}

// errRanTwice is what a handler's second run returns: a policy called it
// again, which a server cannot do with one request.
var errRanTwice = status.Error(codes.Internal, "holdfastgrpc: a policy ran the handler twice")

// UnaryServerInterceptor returns an interceptor that runs every unary
// handler under c's policies, or the errors of [ServerConfig.Validate].
// Install it with grpc.ChainUnaryInterceptor.
//
// The handler runs under the context the policies give it: with a timeout
// policy, one that ends at the timeout. A call the policies refuse gets the
// status described at [ServerConfig], with [ReasonKey] and, when the wait is
// known, [PushbackKey] trailers; the handler's own answers, failures
// included, reach the client as the handler returned them.
func UnaryServerInterceptor(c ServerConfig) (grpc.UnaryServerInterceptor, error) {
	s, err := newServer(c)
	if err != nil {
		return nil, err
	}
	return s.unary, nil
}

func (s *server) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	var ran atomic.Bool
	a, err := s.p.Get(s.context(ctx), func(actx context.Context) (answer, error) {
		if ran.Swap(true) {
			return answer{}, holdfast.Permanent(errRanTwice)
		}
		resp, herr := handler(actx, req)
		return answer{reply: resp, err: herr}, s.outcome(herr)
	})
	if err == nil || direct(err) != nil {
		return a.reply, a.err
	}
	return nil, s.refuse(err, func(md metadata.MD) { grpc.SetTrailer(ctx, md) })
}

// StreamServerInterceptor returns an interceptor that runs every streaming
// handler under c's policies, or the errors of [ServerConfig.Validate].
// Install it with grpc.ChainStreamInterceptor.
//
// The handler's stream has the context the policies give it. When a timeout
// policy stops waiting for a handler that is still running, the call ends
// with DEADLINE_EXCEEDED at once and the handler's further use of its stream
// fails; a timeout with Wait set waits for the handler instead.
func StreamServerInterceptor(c ServerConfig) (grpc.StreamServerInterceptor, error) {
	s, err := newServer(c)
	if err != nil {
		return nil, err
	}
	return s.stream, nil
}

func (s *server) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	var ran atomic.Bool
	w := &serverStream{ServerStream: ss}
	defer w.over.Store(true)
	a, err := s.p.Get(s.context(ss.Context()), func(actx context.Context) (answer, error) {
		if ran.Swap(true) {
			return answer{}, holdfast.Permanent(errRanTwice)
		}
		w.ctx = actx // read only by the handler, on this goroutine
		herr := handler(srv, w)
		return answer{err: herr}, s.outcome(herr)
	})
	if err == nil || direct(err) != nil {
		return a.err
	}
	return s.refuse(err, ss.SetTrailer)
}

// outcome is what a handler's error is to the policies: nil for an answer,
// a callError for a failure. A DEADLINE_EXCEEDED or a cancellation matches
// the context error too, so that an adaptive limit sees the overload and a
// breaker ignores a client that went away.
func (s *server) outcome(herr error) error {
	if herr == nil {
		return nil
	}
	st, ok := status.FromError(herr)
	if !ok {
		st = status.FromContextError(herr) // as grpc-go maps a handler's error
	}
	ce := &callError{err: herr, st: st}
	switch st.Code() {
	case codes.DeadlineExceeded:
		ce.ctxErr = context.DeadlineExceeded
	case codes.Canceled:
		ce.ctxErr = context.Canceled
		return ce
	}
	if !s.failure.has(st.Code()) {
		return nil
	}
	return ce
}

// refuse is the status error for a call the policies refused or ended,
// after giving setTrailer the reason and the wait. An error no policy of
// holdfast's makes is UNAVAILABLE, with reason unavailable.
func (s *server) refuse(err error, setTrailer func(metadata.MD)) error {
	code, reason := refusal(err)
	if code == codes.Unknown {
		code, reason = codes.Unavailable, holdfasthttp.ReasonUnavailable
	}
	md := metadata.MD{}
	if reason != "" {
		md.Set(ReasonKey, reason)
	}
	wait, ok := holdfast.RetryAfter(err)
	if !ok && (reason == holdfast.ReasonOverloaded || reason == holdfast.ReasonQueueTimeout) {
		wait = s.shed
	}
	if wait > 0 && code != codes.DeadlineExceeded {
		md.Set(PushbackKey, formatMillis(wait))
	}
	if len(md) > 0 {
		setTrailer(md)
	}
	return status.Error(code, err.Error())
}

// errAbandoned is what a handler's stream returns once the call has ended
// without it.
var errAbandoned = status.Error(codes.Canceled, "holdfastgrpc: the call ended while its handler ran on")

// serverStream is a handler's stream: it carries the policies' context and
// refuses to be used once the call has ended.
type serverStream struct {
	grpc.ServerStream
	ctx  context.Context
	over atomic.Bool
}

func (w *serverStream) Context() context.Context { return w.ctx }

func (w *serverStream) SendMsg(m any) error {
	if w.over.Load() {
		return errAbandoned
	}
	return w.ServerStream.SendMsg(m)
}

func (w *serverStream) RecvMsg(m any) error {
	if w.over.Load() {
		return errAbandoned
	}
	return w.ServerStream.RecvMsg(m)
}

func (w *serverStream) SetHeader(md metadata.MD) error {
	if w.over.Load() {
		return errAbandoned
	}
	return w.ServerStream.SetHeader(md)
}

func (w *serverStream) SendHeader(md metadata.MD) error {
	if w.over.Load() {
		return errAbandoned
	}
	return w.ServerStream.SendHeader(md)
}

func (w *serverStream) SetTrailer(md metadata.MD) {
	if !w.over.Load() {
		w.ServerStream.SetTrailer(md)
	}
}

// ClientIP is the default [ServerConfig].Key: the client's IP address,
// or its whole address when that has no port, or "" when the call has no
// peer. Behind a proxy it is the proxy's: key by metadata there.
func ClientIP(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.String()
}

// MetadataKey returns a [ServerConfig].Key that keys calls by the first
// value of the incoming metadata key (such as "x-user-id"), as the proxy's
// rate_limit key "header:<name>" keys requests. Calls without it share the
// key "".
func MetadataKey(key string) func(context.Context) string {
	return func(ctx context.Context) string {
		if vs := metadata.ValueFromIncomingContext(ctx, key); len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
}
