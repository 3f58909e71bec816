package holdfastgrpc_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/holdfastgrpc"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
)

// flakyHealth is a health service that answers UNAVAILABLE to its first
// failures calls and SERVING after.
type flakyHealth struct {
	healthpb.UnimplementedHealthServer
	failures atomic.Int32
}

func (h *flakyHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if h.failures.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// startHealth serves h on a loopback port.
func startHealth(h healthpb.HealthServer, opts ...grpc.ServerOption) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(ln)
	return ln.Addr().String(), srv.Stop
}

// Example retries a call the server answered UNAVAILABLE, behind a breaker.
func Example() {
	h := &flakyHealth{}
	h.failures.Store(1)
	addr, stop := startHealth(h)
	defer stop()

	unary, err := holdfastgrpc.UnaryClientInterceptor(holdfastgrpc.ClientConfig{
		Policies: []holdfast.Policy{
			retry.MustNew(retry.Config{
				Attempts:      3,
				PerTryTimeout: 5 * time.Second,
				Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
					if e.Kind == holdfast.EventRetry {
						fmt.Println("retrying after", status.Code(e.Err))
					}
				}),
			}),
			breaker.MustNew(breaker.Config{FailureRate: 0.5, MinimumRequests: 20}),
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithChainUnaryInterceptor(unary))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output:
	// retrying after Unavailable
	// SERVING <nil>
}

// ExampleUnaryServerInterceptor rate-limits a server: the call over the
// limit gets RESOURCE_EXHAUSTED, with the reason and the wait in trailers.
func ExampleUnaryServerInterceptor() {
	unary, err := holdfastgrpc.UnaryServerInterceptor(holdfastgrpc.ServerConfig{
		Policies: []holdfast.Policy{ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 1, Burst: 1})},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := &flakyHealth{}
	addr, stop := startHealth(h, grpc.ChainUnaryInterceptor(unary))
	defer stop()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		var trailer metadata.MD
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
		if err != nil {
			fmt.Println(status.Code(err), trailer.Get(holdfastgrpc.ReasonKey), "pushback given:", len(trailer.Get(holdfastgrpc.PushbackKey)) == 1)
			continue
		}
		fmt.Println(resp.GetStatus())
	}
	// Output:
	// SERVING
	// ResourceExhausted [rate_limited] pushback given: true
}

// ExampleClientConfig_Validate shows an error naming the key at fault.
func ExampleClientConfig_Validate() {
	err := holdfastgrpc.ClientConfig{RetryCodes: []codes.Code{codes.Unavailable, codes.Aborted}}.Validate()
	fmt.Println(err)
	// Output:
	// holdfastgrpc.retry_codes: ABORTED is retried, so it must also be in failure_codes
}
