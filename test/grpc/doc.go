// Package grpc proves that gRPC works end to end through holdfast's proxy:
// its tests put a real grpc-go server behind the proxy as an h2c upstream,
// dial the proxy with a real grpc-go client over cleartext HTTP/2 (prior
// knowledge), and check unary and streaming calls, status codes, header and
// trailer metadata, deadlines, flow control and that gRPC calls (POSTs) are
// never retried.
//
// It is a separate module so that the main go.mod does not depend on
// grpc-go. Run it from the repository root with
//
//	cd test/grpc && go test -race ./...
//
// The service under test is grpc-go's interop TestService
// (google.golang.org/grpc/interop/grpc_testing), which is compiled into
// grpc-go, so no protoc step is needed; the example uses the standard
// health service.
package grpc
