package holdfastgrpc_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/holdfastgrpc"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

// trailerValue is the one value of key in md, or "" when there is not
// exactly one.
func trailerValue(md metadata.MD, key string) string {
	if vs := md.Get(key); len(vs) == 1 {
		return vs[0]
	}
	return ""
}

// TestServerRefusals checks what a client sees of a call the server's
// policies refuse: the status, the reason trailer, and the pushback when the
// wait is known. Times are exact in a synctest bubble.
func TestServerRefusals(t *testing.T) {
	tests := []struct {
		name         string
		policy       func() holdfast.Policy
		busy         bool // a first call holds the handler until the test ends
		shed         time.Duration
		calls        int // calls made; the last is checked
		wantCode     codes.Code
		wantReason   string
		wantPushback string
	}{
		{
			name:   "rate limited",
			policy: func() holdfast.Policy { return ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 4, Burst: 1}) },
			calls:  2, wantCode: codes.ResourceExhausted, wantReason: "rate_limited", wantPushback: "250",
		},
		{
			name: "breaker open",
			policy: func() holdfast.Policy {
				b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenDuration: 1500 * time.Millisecond})
				b.Execute(context.Background(), func(context.Context) error { return errors.New("down") })
				return b
			},
			calls: 1, wantCode: codes.Unavailable, wantReason: "breaker_open", wantPushback: "1500",
		},
		{
			name:   "bulkhead full",
			policy: func() holdfast.Policy { return bulkhead.MustNew(bulkhead.Config{Limit: 1}) },
			busy:   true, calls: 1, wantCode: codes.Unavailable, wantReason: "overloaded",
		},
		{
			name: "bulkhead queue timeout",
			policy: func() holdfast.Policy {
				return bulkhead.MustNew(bulkhead.Config{Limit: 1, Queue: 1, QueueTimeout: 300 * time.Millisecond})
			},
			busy: true, calls: 1, wantCode: codes.Unavailable, wantReason: "queue_timeout",
		},
		{
			name:   "bulkhead full with a shed pushback",
			policy: func() holdfast.Policy { return bulkhead.MustNew(bulkhead.Config{Limit: 1}) },
			busy:   true, shed: 2 * time.Second, calls: 1, wantCode: codes.Unavailable, wantReason: "overloaded", wantPushback: "2000",
		},
		{
			name:   "a policy's own error",
			policy: func() holdfast.Policy { return refuser{} },
			calls:  1, wantCode: codes.Unavailable, wantReason: "unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := serverEnv(t, pipe, holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{tt.policy()}, ShedPushback: tt.shed})
				if tt.busy {
					e.svc.script(step{hang: true})
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					go e.unary(ctx, "busy")
					synctest.Wait()
				}
				var err error
				var trailer metadata.MD
				for range tt.calls {
					_, err = e.unary(t.Context(), "x", grpc.Trailer(&trailer))
				}
				if got := codeOf(err); got != tt.wantCode {
					t.Errorf("got %v (%v); want %v", got, err, tt.wantCode)
				}
				if status.Convert(err).Message() == "" {
					t.Errorf("status %v has no message", err)
				}
				if got := trailerValue(trailer, holdfastgrpc.ReasonKey); got != tt.wantReason {
					t.Errorf("trailer %s: got %q; want %q", holdfastgrpc.ReasonKey, got, tt.wantReason)
				}
				if got := trailerValue(trailer, holdfastgrpc.PushbackKey); got != tt.wantPushback {
					t.Errorf("trailer %s: got %q; want %q", holdfastgrpc.PushbackKey, got, tt.wantPushback)
				}
			})
		})
	}
}

// TestServerTimeout ends a handler that ignores its deadline at the
// timeout with DEADLINE_EXCEEDED, for unary calls and streams, and gives the
// handler the timeout as its deadline.
func TestServerTimeout(t *testing.T) {
	for _, kind := range []string{"unary", "stream"} {
		t.Run(kind, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				to := timeout.MustNew(timeout.Config{Timeout: 2 * time.Second})
				e := serverEnv(t, pipe, holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{to}})
				e.svc.script(step{delay: time.Hour})
				var trailer metadata.MD
				start := time.Now()
				var err error
				if kind == "unary" {
					_, err = e.unary(t.Context(), "x", grpc.Trailer(&trailer))
				} else {
					_, err = e.serverStream(t.Context(), 1, grpc.Trailer(&trailer))
				}
				if took := time.Since(start); took != 2*time.Second {
					t.Errorf("call took %v; want the 2s timeout", took)
				}
				if codeOf(err) != codes.DeadlineExceeded {
					t.Errorf("got %v; want DeadlineExceeded", err)
				}
				if got := trailerValue(trailer, holdfastgrpc.ReasonKey); got != "timeout" {
					t.Errorf("trailer %s: got %q; want %q", holdfastgrpc.ReasonKey, got, "timeout")
				}
				if seen := e.svc.seen(); len(seen) != 1 || seen[0].deadline != 2*time.Second {
					t.Errorf("handler saw %+v; want one call with a 2s deadline", seen)
				}
			})
		})
	}
}

// TestServerHandlerAnswers passes a handler's own statuses through
// unchanged, and counts only failures against a breaker in front of it.
func TestServerHandlerAnswers(t *testing.T) {
	cb := breaker.MustNew(breaker.Config{ConsecutiveFailures: 2})
	e := serverEnv(t, loopback, holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{cb}})
	e.svc.script(step{code: codes.NotFound}, step{code: codes.NotFound}, step{code: codes.InvalidArgument},
		step{code: codes.Internal}, step{code: codes.Internal})
	for i, want := range []codes.Code{codes.NotFound, codes.NotFound, codes.InvalidArgument, codes.Internal, codes.Internal, codes.Unavailable} {
		_, err := e.unary(guarded(t), "x")
		if got := codeOf(err); got != want {
			t.Errorf("call %d: got %v; want %v", i+1, err, want)
		}
		if want != codes.Unavailable && status.Convert(err).Message() != "scripted "+want.String() {
			t.Errorf("call %d: message %q; want the handler's", i+1, status.Convert(err).Message())
		}
	}
	if got := len(e.svc.seen()); got != 5 {
		t.Errorf("handler calls: got %d; want 5 (none once the breaker opened)", got)
	}
}

// TestServerKeyedRateLimit limits each user apart, by metadata, on unary
// calls and streams alike.
func TestServerKeyedRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := ratelimit.MustNewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{RequestsPerSecond: 1, Burst: 1}})
		e := serverEnv(t, pipe, holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{lim}, Key: holdfastgrpc.MetadataKey("x-user")})
		user := func(name string) context.Context {
			return metadata.AppendToOutgoingContext(t.Context(), "x-user", name)
		}
		if _, err := e.unary(user("ann"), "x"); err != nil {
			t.Fatalf("ann's first call: %v", err)
		}
		if _, err := e.serverStream(user("bob"), 1); err != nil {
			t.Fatalf("bob's first call: %v", err)
		}
		var trailer metadata.MD
		_, err := e.serverStream(user("ann"), 1, grpc.Trailer(&trailer))
		if codeOf(err) != codes.ResourceExhausted || trailerValue(trailer, holdfastgrpc.PushbackKey) != "1000" {
			t.Errorf("ann's second call: got %v with pushback %q; want ResourceExhausted with 1000", err, trailerValue(trailer, holdfastgrpc.PushbackKey))
		}
	})
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"tcp", peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5000}}), "10.0.0.1"},
		{"ipv6", peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("::1"), Port: 5000}}), "::1"},
		{"no port", peer.NewContext(context.Background(), &peer.Peer{Addr: &net.UnixAddr{Name: "/run/app.sock", Net: "unix"}}), "/run/app.sock"},
		{"no address", peer.NewContext(context.Background(), &peer.Peer{}), ""},
		{"no peer", context.Background(), ""},
	}
	for _, tt := range tests {
		if got := holdfastgrpc.ClientIP(tt.ctx); got != tt.want {
			t.Errorf("%s: ClientIP = %q; want %q", tt.name, got, tt.want)
		}
	}
}

// TestServerPushbackDrivesClientRetry puts the client interceptor in front
// of the server interceptor: the server's rate limit answers with a
// pushback, and the client's retry comes back exactly then, and succeeds.
func TestServerPushbackDrivesClientRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unary, err := holdfastgrpc.UnaryClientInterceptor(holdfastgrpc.ClientConfig{
			Policies: []holdfast.Policy{retry.MustNew(retry.Config{Backoff: retry.BackoffConfig{Base: 10 * time.Millisecond, Jitter: retry.JitterNone}})},
		})
		if err != nil {
			t.Fatal(err)
		}
		lim := ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 2, Burst: 1})
		e := serverEnv(t, pipe, holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{lim}}, grpc.WithChainUnaryInterceptor(unary))
		if _, err := e.unary(t.Context(), "first"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := e.unary(t.Context(), "second"); err != nil {
			t.Fatalf("second call: %v; want success after the pushback", err)
		}
		if took := time.Since(start); took != 500*time.Millisecond {
			t.Errorf("second call took %v; want the limiter's 500ms", took)
		}
		if got := len(e.svc.seen()); got != 2 {
			t.Errorf("handler calls: got %d; want 2", got)
		}
	})
}

// TestServerStreamAbandoned refuses stream operations from a handler the
// call ended without. An interceptor outside this package's holds the call
// open after the timeout, so the handler's late send would still reach the
// client if the stream let it through.
func TestServerStreamAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := timeout.MustNew(timeout.Config{Timeout: time.Second})
		stream, err := holdfastgrpc.StreamServerInterceptor(holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{to}})
		if err != nil {
			t.Fatal(err)
		}
		svc := &lateService{release: make(chan struct{}), late: make(chan error, 1)}
		outer := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			err := handler(srv, ss)
			close(svc.release) // the call has ended; let the handler try to send
			<-svc.late
			return err
		}
		srv := grpc.NewServer(grpc.ChainStreamInterceptor(outer, stream))
		testpb.RegisterTestServiceServer(srv, svc)
		e := newEnvWith(t, srv)
		got, err := e.serverStream(t.Context(), 1)
		if codeOf(err) != codes.DeadlineExceeded {
			t.Errorf("got %v; want DeadlineExceeded", err)
		}
		if len(got) != 0 {
			t.Errorf("client received %q from the abandoned handler; want nothing", got)
		}
	})
}

// lateService's stream handler ignores its deadline, then sends once
// released, and reports how that went.
type lateService struct {
	testpb.UnimplementedTestServiceServer
	release chan struct{}
	late    chan error
}

func (s *lateService) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	<-s.release
	err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: []byte("late")}})
	s.late <- err
	return err
}

// refuser is a policy that refuses every call with an error of its own.
type refuser struct{}

func (refuser) Execute(context.Context, func(context.Context) error) error {
	return errors.New("refuser: no")
}

// twice is a policy that runs its next stage twice, which a server cannot.
type twice struct{}

func (twice) Execute(ctx context.Context, next func(context.Context) error) error {
	if err := next(ctx); err != nil {
		return err
	}
	return next(ctx)
}

// TestServerRunsHandlerOnce refuses to run a handler a second time for one
// call, whatever a policy asks.
func TestServerRunsHandlerOnce(t *testing.T) {
	e := serverEnv(t, loopback, holdfastgrpc.ServerConfig{Policies: []holdfast.Policy{twice{}}})
	_, err := e.unary(guarded(t), "x")
	if codeOf(err) != codes.Internal {
		t.Errorf("got %v; want Internal", err)
	}
	if got := len(e.svc.seen()); got != 1 {
		t.Errorf("handler ran %d times; want 1", got)
	}
}
