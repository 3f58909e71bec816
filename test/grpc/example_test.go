package grpc_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Example puts holdfast in front of a gRPC server as an h2c upstream and
// talks to the server's health service through it: a unary Check, and a
// server-streaming Watch that reports a status change as it happens.
func Example() {
	hs := health.NewServer()
	hs.SetServingStatus("catalog", healthpb.HealthCheckResponse_SERVING)
	up, stopUp, err := startGRPCServer(func(s *grpc.Server) { healthpb.RegisterHealthServer(s, hs) })
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stopUp()

	addr, stop, err := startHoldfast(`listen: 127.0.0.1:0
upstreams:
  catalog:
    protocol: h2c
    endpoints:
      - address: http://` + up + `
routes:
  - name: grpc
    upstream: catalog
    timeout: 10s
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	conn, err := dial(addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()

	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "catalog"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("check:", resp.GetStatus())

	watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "catalog"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 2 {
		resp, err := watch.Recv()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("watch:", resp.GetStatus())
		if i == 0 {
			// Only after the first update has crossed the proxy, so the
			// order of the output is fixed.
			hs.SetServingStatus("catalog", healthpb.HealthCheckResponse_NOT_SERVING)
		}
	}
	// Output:
	// check: SERVING
	// watch: SERVING
	// watch: NOT_SERVING
}
