package holdfastgrpc

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/holdfast-dev/holdfast"
)

// answer is one attempt's result: the reply it decoded into, the call's
// error when its status is an answer rather than a failure (NOT_FOUND, say),
// and what the server sent around it.
type answer struct {
	reply   any
	err     error
	header  metadata.MD
	trailer metadata.MD
	peer    peer.Peer
}

// client is the state the client interceptors share.
type client struct {
	p       *holdfast.Pipeline[answer]
	none    bool // no policies: calls pass straight through
	classes classes
	// concurrent is set when attempts may overlap or outlive the call: each
	// then decodes into a reply of its own, and the winner's is copied into
	// the caller's.
	concurrent bool
	buffer     int
}

func newClient(c ClientConfig) (*client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := holdfast.New[answer](c.Policies...)
	if err != nil {
		return nil, err
	}
	buffer := c.StreamBuffer
	if buffer == 0 {
		buffer = DefaultStreamBuffer
	}
	return &client{
		p:          p,
		none:       len(c.Policies) == 0,
		classes:    newClasses(c.FailureCodes, c.RetryCodes, c.PushbackCodes),
		concurrent: concurrent(c.Policies),
		buffer:     buffer,
	}, nil
}

// UnaryClientInterceptor returns an interceptor that runs every unary call
// through c's policies, or the errors of [ClientConfig.Validate]. Install it
// with grpc.WithChainUnaryInterceptor.
//
// Each attempt is one call of the rest of the chain, under the context the
// policies give it: the caller's, or one that ends sooner (a per-try
// timeout, a timeout policy). grpc-go sends what is left of that context's
// deadline as grpc-timeout when the attempt starts, so time spent before it
// (earlier attempts, backoff) is not given to the server again. An attempt
// after the first carries grpc-previous-rpc-attempts metadata, as gRPC's own
// retries do. How status codes count is described at [ClientConfig]; a call
// whose own context ended is not retried, and one whose attempt ran out of
// its own time is retried while the caller's deadline lasts.
//
// grpc.Header, grpc.Trailer and grpc.Peer options get the values of the
// attempt whose answer the caller gets. With a hedge or a timeout among the
// policies, attempts may overlap, so each decodes into a reply of its own
// (the reply must then be a protocol buffer message or a pointer to a
// struct) and the winner's is copied into the caller's.
//
// Do not also give the channel a retry policy in its service config: each
// of its retries would be one attempt here, and the two would multiply.
func UnaryClientInterceptor(c ClientConfig) (grpc.UnaryClientInterceptor, error) {
	cl, err := newClient(c)
	if err != nil {
		return nil, err
	}
	return cl.unary, nil
}

func (c *client) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if c.none {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	rest, sinks := splitOptions(opts)
	if c.concurrent {
		if err := checkCopyable(reply); err != nil {
			return err
		}
	}
	var attempts atomic.Int32
	a, err := c.p.Get(ctx, func(actx context.Context) (answer, error) {
		a := answer{reply: reply}
		if c.concurrent {
			a.reply = newReply(reply)
		}
		actx = attemptContext(actx, attempts.Add(1))
		// Three options of our own, so the slice is copied and every
		// attempt has its own.
		aopts := append(rest[:len(rest):len(rest)], grpc.Header(&a.header), grpc.Trailer(&a.trailer), grpc.Peer(&a.peer))
		err := invoker(actx, method, req, a.reply, cc, aopts...)
		perr := c.classes.classify(actx, err, a.trailer)
		if perr == nil {
			a.err = err // an answer: a success to the policies, the status to the caller
		}
		return a, perr
	})
	sinks.fill(a)
	if err != nil {
		return clientError(ctx, err)
	}
	if a.err == nil && a.reply != reply {
		copyReply(reply, a.reply)
	}
	return a.err
}

// attemptContext is the context of attempt n (from 1) of a call.
func attemptContext(ctx context.Context, n int32) context.Context {
	if n <= 1 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, previousAttemptsKey, strconv.Itoa(int(n-1)))
}

// sinks are where the caller's grpc.Header, grpc.Trailer and grpc.Peer
// options want their values.
type sinks struct {
	headers, trailers []*metadata.MD
	peers             []*peer.Peer
}

// splitOptions takes the options that receive values out of opts, so that
// every attempt receives its own and only the caller's answer reaches them.
func splitOptions(opts []grpc.CallOption) ([]grpc.CallOption, sinks) {
	var s sinks
	n := 0
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			s.headers = append(s.headers, o.HeaderAddr)
			continue
		case grpc.TrailerCallOption:
			s.trailers = append(s.trailers, o.TrailerAddr)
			continue
		case grpc.PeerCallOption:
			s.peers = append(s.peers, o.PeerAddr)
			continue
		}
		n++
	}
	if n == len(opts) {
		return opts, s
	}
	rest := make([]grpc.CallOption, 0, n)
	for _, o := range opts {
		switch o.(type) {
		case grpc.HeaderCallOption, grpc.TrailerCallOption, grpc.PeerCallOption:
		default:
			rest = append(rest, o)
		}
	}
	return rest, s
}

// fill gives the caller's options the values of a.
func (s sinks) fill(a answer) {
	for _, h := range s.headers {
		*h = a.header
	}
	for _, t := range s.trailers {
		*t = a.trailer
	}
	if a.peer.Addr != nil {
		for _, p := range s.peers {
			*p = a.peer
		}
	}
}

// checkCopyable reports a reply that newReply and copyReply cannot handle.
func checkCopyable(reply any) error {
	if _, ok := reply.(proto.Message); ok {
		return nil
	}
	if v := reflect.ValueOf(reply); v.Kind() == reflect.Pointer && !v.IsNil() {
		return nil
	}
	return status.Error(codes.Internal, fmt.Sprintf("holdfastgrpc: a reply of type %T cannot be copied between attempts", reply))
}

// newReply returns an empty reply of the same type as reply.
func newReply(reply any) any {
	if m, ok := reply.(proto.Message); ok {
		return m.ProtoReflect().New().Interface()
	}
	return reflect.New(reflect.TypeOf(reply).Elem()).Interface()
}

// copyReply makes dst what src is.
func copyReply(dst, src any) {
	if m, ok := dst.(proto.Message); ok {
		proto.Reset(m)
		proto.Merge(m, src.(proto.Message))
		return
	}
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}
