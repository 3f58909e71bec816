package holdfastgrpc_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/holdfast-dev/holdfast/holdfastgrpc"
)

// The service under test is grpc-go's interop TestService, which is
// compiled into grpc-go, so no protoc step is needed. service implements it
// from a script: each call takes the next step, and calls beyond the script
// succeed.

// step is what one call does.
type step struct {
	code     codes.Code    // the status it ends with
	pushback []string      // grpc-retry-pushback-ms trailer values
	delay    time.Duration // wait before doing anything (or until the call's context ends)
	hang     bool          // wait for the call's context to end, then end with its status
	header   bool          // streams: send the header first
	messages int           // streams: messages sent before a failure
	gap      time.Duration // streams: wait between messages
}

// call is what the server saw of one call.
type call struct {
	previous    string        // grpc-previous-rpc-attempts
	deadline    time.Duration // time left until the call's deadline when it arrived
	hasDeadline bool
	at          time.Time // when it arrived
	received    int       // request messages received (streams)
	bytes       int       // request payload bytes received
	ended       error     // a hanging call's context error
}

// service is a scripted TestService; it is safe for concurrent use.
type service struct {
	testpb.UnimplementedTestServiceServer

	mu    sync.Mutex
	plan  []step
	calls []*call
}

// script sets the steps of the calls to come.
func (s *service) script(steps ...step) {
	s.mu.Lock()
	s.plan = steps
	s.mu.Unlock()
}

// seen returns a copy of what the server saw so far.
func (s *service) seen() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
	}
	return out
}

// arrive records a call and returns its step, its record and its number.
func (s *service) arrive(ctx context.Context) (step, *call, int) {
	c := &call{at: time.Now()}
	if dl, ok := ctx.Deadline(); ok {
		c.deadline, c.hasDeadline = time.Until(dl), true
	}
	if vs := metadata.ValueFromIncomingContext(ctx, "grpc-previous-rpc-attempts"); len(vs) > 0 {
		c.previous = vs[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	var st step
	if len(s.plan) > 0 {
		st, s.plan = s.plan[0], s.plan[1:]
	}
	return st, c, len(s.calls)
}

// wait carries out a step's delay or hang; a non-nil error ends the call.
func (s *service) wait(ctx context.Context, st step, c *call) error {
	if st.hang {
		<-ctx.Done()
		s.mu.Lock()
		c.ended = ctx.Err()
		s.mu.Unlock()
		return status.FromContextError(ctx.Err()).Err()
	}
	if st.delay > 0 {
		t := time.NewTimer(st.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			s.mu.Lock()
			c.ended = ctx.Err()
			s.mu.Unlock()
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	return nil
}

// end is a step's final status, after its pushback trailer is set.
func (st step) end(setTrailer func(metadata.MD)) error {
	if len(st.pushback) > 0 {
		md := metadata.MD{}
		md[holdfastgrpc.PushbackKey] = st.pushback
		setTrailer(md)
	}
	if st.code == codes.OK {
		return nil
	}
	return status.Error(st.code, "scripted "+st.code.String())
}

// UnaryCall echoes the request payload and names the call that answered in
// Username ("1" for the first call the server saw).
func (s *service) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	st, c, n := s.arrive(ctx)
	if err := s.wait(ctx, st, c); err != nil {
		return nil, err
	}
	grpc.SetHeader(ctx, metadata.Pairs("x-call", strconv.Itoa(n)))
	grpc.SetTrailer(ctx, metadata.Pairs("x-call-trailer", strconv.Itoa(n)))
	if err := st.end(func(md metadata.MD) { grpc.SetTrailer(ctx, md) }); err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{Payload: req.GetPayload(), Username: strconv.Itoa(n)}, nil
}

// StreamingOutputCall sends one message per response parameter, each
// naming the call in its body, or, for a failing step, step.messages
// messages before the status.
func (s *service) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	ctx := stream.Context()
	st, c, n := s.arrive(ctx)
	s.mu.Lock()
	c.received, c.bytes = 1, len(req.GetPayload().GetBody())
	s.mu.Unlock()
	if err := s.wait(ctx, st, c); err != nil {
		return err
	}
	if st.header {
		if err := stream.SendHeader(metadata.Pairs("x-call", strconv.Itoa(n))); err != nil {
			return err
		}
	}
	count := len(req.GetResponseParameters())
	if st.code != codes.OK {
		count = st.messages
	}
	for i := range count {
		if i > 0 && st.gap > 0 {
			if err := s.wait(ctx, step{delay: st.gap}, c); err != nil {
				return err
			}
		}
		body := []byte(strconv.Itoa(n) + "/" + strconv.Itoa(i))
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: body}}); err != nil {
			return err
		}
	}
	return st.end(stream.SetTrailer)
}

// StreamingInputCall reads every request message, then ends as its step
// says; on success it answers with the bytes received.
func (s *service) StreamingInputCall(stream testpb.TestService_StreamingInputCallServer) error {
	ctx := stream.Context()
	st, c, _ := s.arrive(ctx)
	total := 0
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		total += len(req.GetPayload().GetBody())
		s.mu.Lock()
		c.received++
		c.bytes = total
		s.mu.Unlock()
	}
	if err := s.wait(ctx, st, c); err != nil {
		return err
	}
	if err := st.end(stream.SetTrailer); err != nil {
		return err
	}
	return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
}

// FullDuplexCall echoes every message. A failing step reads one message
// first, then ends without a header.
func (s *service) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	ctx := stream.Context()
	st, c, _ := s.arrive(ctx)
	if err := s.wait(ctx, st, c); err != nil {
		return err
	}
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return st.end(stream.SetTrailer)
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		c.received++
		c.bytes += len(req.GetPayload().GetBody())
		s.mu.Unlock()
		if st.code != codes.OK {
			return st.end(stream.SetTrailer)
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// env is a test service behind a real grpc-go server and a client
// connection to it.
type env struct {
	svc    *service
	client testpb.TestServiceClient
}

// transport connects a server to a client: over loopback TCP, or over
// in-memory pipes inside a synctest bubble, where time is exact.
type transport int

const (
	loopback transport = iota
	pipe
)

// newEnv serves a fresh service with serverOpts and dials it with
// dialOpts. Everything stops when the test ends.
func newEnv(t *testing.T, tr transport, serverOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) *env {
	t.Helper()
	svc := &service{}
	srv := grpc.NewServer(serverOpts...)
	testpb.RegisterTestServiceServer(srv, svc)
	return &env{svc: svc, client: testpb.NewTestServiceClient(serve(t, tr, srv, dialOpts...))}
}

// newEnvWith dials srv, which has its own service, over pipes.
func newEnvWith(t *testing.T, srv *grpc.Server) *env {
	t.Helper()
	return &env{client: testpb.NewTestServiceClient(serve(t, pipe, srv))}
}

// serve runs srv and returns a client connection to it. Both stop when the
// test ends.
func serve(t *testing.T, tr transport, srv *grpc.Server, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	var ln net.Listener
	target := "passthrough:///pipe"
	switch tr {
	case loopback:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, target = l, l.Addr().String()
	case pipe:
		pl := newPipeListener()
		ln = pl
		dialOpts = append(dialOpts, grpc.WithContextDialer(pl.dial))
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	conn, err := grpc.NewClient(target, append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: the client goes before the server.
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	t.Cleanup(func() { conn.Close() })
	return conn
}

// clientEnv is newEnv with both client interceptors built from cfg.
func clientEnv(t *testing.T, tr transport, cfg holdfastgrpc.ClientConfig) *env {
	t.Helper()
	unary, err := holdfastgrpc.UnaryClientInterceptor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := holdfastgrpc.StreamClientInterceptor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, tr, nil, grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream))
}

// serverEnv is newEnv with both server interceptors built from cfg.
func serverEnv(t *testing.T, tr transport, cfg holdfastgrpc.ServerConfig, dialOpts ...grpc.DialOption) *env {
	t.Helper()
	unary, err := holdfastgrpc.UnaryServerInterceptor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := holdfastgrpc.StreamServerInterceptor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, tr, []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}, dialOpts...)
}

// pipeListener hands the server one end of a net.Pipe per dial. Pipes
// block on channels, so a synctest bubble can tell when everything waits.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// hangGuard bounds calls in the loopback tests. It only turns a hang into a
// failure; no assertion depends on it.
const hangGuard = 10 * time.Second

// guarded is a call context bounded by hangGuard.
func guarded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// unary makes one UnaryCall with body as its payload.
func (e *env) unary(ctx context.Context, body string, opts ...grpc.CallOption) (*testpb.SimpleResponse, error) {
	return e.client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte(body)}}, opts...)
}

// codeOf is the status code of err.
func codeOf(err error) codes.Code { return status.Code(err) }
