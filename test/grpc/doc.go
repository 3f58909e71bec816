// Package grpc proves that gRPC works end to end through holdfast's proxy:
// its tests put a real grpc-go server behind the proxy as an h2c upstream,
// dial the proxy with a real grpc-go client over cleartext HTTP/2 (prior
// knowledge), and check unary, server-streaming and bidirectional calls,
// status codes with details, header and trailer metadata, flushing and flow
// control, deadlines (the client's and the route's), the proxy's own replies
// as gRPC statuses, and that gRPC calls (POSTs) are never retried.
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
