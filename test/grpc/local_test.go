package grpc_test

import (
	"net"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestLocalRepliesAreGRPC checks that the replies holdfast makes itself
// reach a gRPC client as gRPC statuses with the reason in trailer metadata,
// not as bare HTTP statuses that grpc-go would have to guess a code for.
func TestLocalRepliesAreGRPC(t *testing.T) {
	svc := newTestService()
	up, stopUp, err := startGRPCServer(svc.register)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopUp)
	tests := []struct {
		name       string
		yaml       string
		calls      int // the last one gets the local reply
		wantCode   codes.Code
		wantReason string
	}{
		{
			name:       "no route",
			yaml:       holdfastYAML(up, "    match: {path_prefix: /other.Service/}\n"),
			calls:      1,
			wantCode:   codes.Unimplemented,
			wantReason: "no_route",
		},
		{
			name:       "rate limited",
			yaml:       holdfastYAML(up, "    rate_limit: {requests_per_second: 0.01, burst: 1}\n"),
			calls:      2,
			wantCode:   codes.ResourceExhausted,
			wantReason: "rate_limited",
		},
		{
			name:       "upstream refuses connections",
			yaml:       holdfastYAML(closedAddr(t), ""),
			calls:      1,
			wantCode:   codes.Unavailable,
			wantReason: "no_healthy_upstream",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := testpb.NewTestServiceClient(proxyConn(t, tt.yaml))
			var err error
			var trailer metadata.MD
			for i := range tt.calls {
				_, err = client.UnaryCall(guarded(t), &testpb.SimpleRequest{}, grpc.Trailer(&trailer))
				if i < tt.calls-1 && err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("got %v (%v); want %v", got, err, tt.wantCode)
			}
			checkMD(t, "trailer", trailer, "x-holdfast-reason", tt.wantReason)
			if tt.wantCode == codes.ResourceExhausted {
				// The limiter's wait hint, in the form gRPC retry policies obey.
				if v := trailer.Get("grpc-retry-pushback-ms"); len(v) != 1 || !positive(v[0]) {
					t.Errorf("trailer grpc-retry-pushback-ms: got %q; want a positive number of milliseconds", v)
				}
			}
		})
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func positive(s string) bool {
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n > 0
}
