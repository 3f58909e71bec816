// Package holdfastgrpc runs gRPC calls through holdfast's policies: client
// interceptors that put retry, breaker, hedge, timeout, rate limit and
// concurrency limits around every call, and server interceptors that shed,
// limit and time out handlers with answers gRPC clients understand.
//
// It is its own module, so that holdfast's main module does not depend on
// grpc-go.
//
// # The client
//
// [UnaryClientInterceptor] and [StreamClientInterceptor] run each call, or
// each stream's establishment, as one call of a holdfast.Pipeline built from
// [ClientConfig].Policies. A status code is one of three outcomes to them
// (see [ClientConfig]):
//
//   - answers: OK, and the caller's own mistakes (INVALID_ARGUMENT,
//     NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, UNAUTHENTICATED,
//     FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED), CANCELLED and
//     ABORTED. Breakers and limits count them as successes; nothing retries
//     them; the caller gets them as they are.
//   - failures: DEADLINE_EXCEEDED sent by the server, INTERNAL, UNKNOWN,
//     DATA_LOSS, and RESOURCE_EXHAUSTED without a pushback. Breakers count
//     them; retries and hedges stop at them.
//   - retryable failures: UNAVAILABLE, and RESOURCE_EXHAUSTED with a
//     grpc-retry-pushback-ms trailer, which a retry waits for exactly.
//
// An attempt that ran out of its own time (a per-try timeout) is a failure
// that is retried while the caller's deadline lasts; a call whose caller
// gave up is neither counted nor retried. Every attempt's deadline, sent to
// the server as grpc-timeout, is what is left of the caller's (or of the
// per-try timeout's, when that ends first) as the attempt starts.
//
// A stream is retried only until it is established, when its response
// header arrives; after that its messages may have been acted on.
//
// # The server
//
// [UnaryServerInterceptor] and [StreamServerInterceptor] run handlers under
// [ServerConfig].Policies: a rate limit answers RESOURCE_EXHAUSTED, a full
// bulkhead or adaptive limit UNAVAILABLE, a timeout DEADLINE_EXCEEDED, each
// with its reason in an x-holdfast-reason trailer and, where the wait is
// known, a grpc-retry-pushback-ms trailer that gRPC clients' retry policies
// (and this package's client) obey.
//
// # Example
//
//	unary, err := holdfastgrpc.UnaryClientInterceptor(holdfastgrpc.ClientConfig{
//		Policies: []holdfast.Policy{
//			retry.MustNew(retry.Config{Attempts: 3, PerTryTimeout: time.Second}),
//			breaker.MustNew(breaker.Config{FailureRate: 0.5, MinimumRequests: 20}),
//		},
//	})
//	if err != nil { ... }
//	conn, err := grpc.NewClient(target, grpc.WithChainUnaryInterceptor(unary), ...)
package holdfastgrpc
